// Pure geometry of one image plane, for what the viewer writes around the image: the patient-direction
// letters at the screen's edges (from the DICOM direction cosines, LPS), and lengths in millimetres.
// No Cornerstone import, so node's test runner can load it.

// DICOM patient axes (LPS): +x towards the patient's left, +y posterior, +z head.
const AXIS_LETTERS = [['R', 'L'], ['A', 'P'], ['F', 'H']];
const NEGLIGIBLE = 1e-4; // rounding noise in the stored cosines, not a tilt

export function orientationLetters(vector) {
  // The direction a patient-space vector points, as up to three letters, the strongest axis first
  // (e.g. [1, 0, 0] -> 'L'; a tilted row direction [0.94, 0, -0.34] -> 'LF').
  return [0, 1, 2]
    .filter((axis) => Math.abs(vector[axis]) > NEGLIGIBLE)
    .sort((a, b) => Math.abs(vector[b]) - Math.abs(vector[a]))
    .map((axis) => AXIS_LETTERS[axis][vector[axis] > 0 ? 1 : 0])
    .join('');
}

export function edgeLetters(rowCosines, columnCosines) {
  // Letters for the four screen edges of an image shown unrotated and unflipped: the row direction
  // (along a row, column index growing) points right on screen, the column direction points down.
  const opposite = (vector) => vector.map((component) => -component);
  return {
    left: orientationLetters(opposite(rowCosines)),
    right: orientationLetters(rowCosines),
    top: orientationLetters(opposite(columnCosines)),
    bottom: orientationLetters(columnCosines),
  };
}

export function formatMm(value, decimals = 2) {
  // At most `decimals` decimals, trailing zeros dropped but one kept, and a true minus sign:
  // -143.5 -> '−143.5', 1.25 -> '1.25', 8 -> '8.0'.
  const fixed = Math.abs(value).toFixed(decimals).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '.0');
  const sign = value < 0 && Number(fixed) !== 0 ? '−' : '';
  return `${sign}${fixed}`;
}

export function brushDiameterMm(radiusPixels, columnSpacing) {
  // The brush paints a disc of `radiusPixels` around the pointer; across the screen that is
  // 2 * radius pixels of `columnSpacing` mm each.
  return 2 * radiusPixels * columnSpacing;
}
