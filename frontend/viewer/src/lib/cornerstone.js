// Cornerstone3D, set up once per page: the core (GPU or CPU rendering), the DICOM loader's web workers,
// and the mouse tools that move the image (the left button is ours, for painting, unless measuring).
import { init as coreInit, setCanvasCreator, setUseCPURendering } from '@cornerstonejs/core';
import {
  Enums as ToolEnums,
  LengthTool,
  PanTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  init as toolsInit,
} from '@cornerstonejs/tools';
import dicomImageLoader from '@cornerstonejs/dicom-image-loader';
import { formatMm } from './image-plane.js';

let initialised = null;
const MOUSE_TOOLS = [PanTool, ZoomTool, WindowLevelTool, LengthTool];

export function softwareWebGL() {
  try {
    const gl = document.createElement('canvas').getContext('webgl2');
    if (!gl) return true;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    return /swiftshader|llvmpipe|software/i.test(String(renderer));
  } catch {
    return true;
  }
}

export function initCornerstone() {
  if (!initialised) {
    initialised = (async () => {
      coreInit();
      const wanted = new URLSearchParams(location.search).get('render');
      if (wanted === 'cpu' || (wanted !== 'gpu' && softwareWebGL())) {
        // Our label maps are on our own 2D canvas, so Cornerstone's CPU path shows everything we need;
        // it is faster than a software-emulated GPU (SwiftShader, llvmpipe).
        setUseCPURendering(true);
        setCanvasCreator(memoryCanvas);
      }
      dicomImageLoader.init({ maxWebWorkers: Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1)) });
      toolsInit();
      for (const tool of MOUSE_TOOLS) addTool(tool);
    })();
  }
  return initialised;
}

function memoryCanvas() {
  // The CPU path draws each slice with 2D canvases (Cornerstone's, made here). Chromium would back them
  // with the GPU, which on this path is emulated on the CPU: every slice would then cost the emulator an
  // upload, a scaled draw and a composite of the whole canvas, more than the slice itself. Canvases in
  // plain memory (willReadFrequently) are drawn by Skia directly and copied once per frame.
  const canvas = document.createElement('canvas');
  canvas.getContext('2d', { willReadFrequently: true });
  return canvas;
}

function lengthText(data, targetId) {
  // To a tenth of a millimetre (Cornerstone's own text rounds lengths over 100 mm to whole mm).
  const { length, unit } = data.cachedStats[targetId] ?? {};
  return Number.isFinite(length) ? [`${formatMm(length, 1)} ${unit}`] : undefined;
}

export function bindMouseTools(viewportId, engineId) {
  // Middle drag pans, right drag zooms, Shift+left drag sets a custom window; measuring(on) gives the
  // left button to Cornerstone's length tool (its lines stay visible, and movable, when off).
  const { MouseBindings, KeyboardBindings } = ToolEnums;
  const tools = ToolGroupManager.createToolGroup(`tools-${viewportId}`);
  for (const tool of [PanTool, ZoomTool, WindowLevelTool]) tools.addTool(tool.toolName);
  tools.addTool(LengthTool.toolName, { getTextLines: lengthText });
  tools.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  tools.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
  tools.setToolActive(WindowLevelTool.toolName, {
    bindings: [{ mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Shift }],
  });
  tools.addViewport(viewportId, engineId);
  return {
    measuring(on) {
      if (on) tools.setToolActive(LengthTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] });
      else tools.setToolPassive(LengthTool.toolName);
    },
  };
}
