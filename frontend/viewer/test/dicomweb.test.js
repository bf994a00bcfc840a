// Which DICOMweb images the viewer asks for (src/lib/dicomweb.js): one frame per platform slice, in the
// platform's z order, each paired with its own instance's metadata. Run: npm test (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frameImageIds, metadataInZOrder } from '../src/lib/dicomweb.js';

const instances = { study_uid: '1.2.3', series_uid: '1.2.3.4', sop_uids: ['1.2.3.4.9', '1.2.3.4.7', '1.2.3.4.8'] };
const dataset = (sop, z) => ({ '00080018': { vr: 'UI', Value: [sop] }, '00200032': { vr: 'DS', Value: [0, 0, z] } });

test('one wadors frame id per slice, in the order the platform numbers its slices', () => {
  assert.deepEqual(frameImageIds('http://host:8000', instances), [
    'wadors:http://host:8000/dicomweb/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.9/frames/1',
    'wadors:http://host:8000/dicomweb/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.7/frames/1',
    'wadors:http://host:8000/dicomweb/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.8/frames/1',
  ]);
});

test('metadata is matched by SOP Instance UID, not by its place in the answer', () => {
  const answer = [dataset('1.2.3.4.7', 1), dataset('1.2.3.4.8', 2), dataset('1.2.3.4.9', 0)];
  const ordered = metadataInZOrder(instances, answer);
  assert.deepEqual(ordered.map((item) => item['00080018'].Value[0]), instances.sop_uids);
  assert.deepEqual(ordered.map((item) => item['00200032'].Value[2]), [0, 1, 2]);
});

test('a slice missing from the metadata is an error naming it', () => {
  assert.throws(() => metadataInZOrder(instances, [dataset('1.2.3.4.9', 0), dataset('1.2.3.4.8', 2)]),
    /no instance 1\.2\.3\.4\.7 \(slice 1\)/);
});
