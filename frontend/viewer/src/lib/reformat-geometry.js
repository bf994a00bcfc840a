// Where a coronal or sagittal reformat lies in the patient, and its label map composed from the axial
// ones: plain functions, tested in test/reformat-geometry.test.js.

function add(a, b, scale = 1) {
  return a.map((value, axis) => value + scale * b[axis]);
}

function normalOf(rowCosines, columnCosines) {
  const [a, b] = [rowCosines, columnCosines];
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function reformatPlaneGeometry(layout, plane, index) {
  // The DICOM image plane (LPS, mm) of one reformat: its rows step from slice to slice in display order
  // (head on top), its columns along the axial rows (coronal) or columns (sagittal).
  const axial = layout.axial;
  const [rowCosines, columnCosines] = [axial.orientation.slice(0, 3), axial.orientation.slice(3, 6)];
  const normal = normalOf(rowCosines, columnCosines);
  const down = axial.head_is_last ? normal.map((value) => -value) : normal;
  const along = plane === 'coronal' ? rowCosines : columnCosines;
  const across = plane === 'coronal' ? columnCosines : rowCosines; // the direction the plane index moves in
  const acrossSpacing = plane === 'coronal' ? axial.pixel_spacing[0] : axial.pixel_spacing[1];
  return {
    rowCosines: along,
    columnCosines: down,
    imagePositionPatient: add(axial.top_position, across, index * acrossSpacing),
    rowPixelSpacing: layout.row_spacing,
    columnPixelSpacing: layout.planes[plane].column_spacing,
  };
}

export function composePlane(plane, index, { sliceOrder, rows, columns }, labelsFor) {
  // One reformat's label map from the axial label maps: row k is the axial slice sliceOrder[k], cut along
  // image row `index` (coronal) or column `index` (sagittal). null when no axial slice has labels.
  const width = plane === 'coronal' ? columns : rows;
  let out = null;
  sliceOrder.forEach((z, k) => {
    const labels = labelsFor(z);
    if (!labels) return;
    out ??= new Uint8Array(sliceOrder.length * width);
    const line = k * width;
    if (plane === 'coronal') {
      out.set(labels.subarray(index * columns, (index + 1) * columns), line);
    } else {
      for (let y = 0; y < rows; y++) out[line + y] = labels[y * columns + index];
    }
  });
  return out;
}
