// How the overview names roles, reading states and the phase of a series: in words (with a shape beside
// them), so that no state is told by colour alone.
export const ROLE_NAMES = { reader_1: 'Reader 1', reader_2: 'Reader 2', adjudicator: 'Adjudicator' };

export const STATES = {
  assigned: { text: 'Assigned', shape: '○' },
  in_progress: { text: 'In progress', shape: '◐' },
  submitted: { text: 'Submitted', shape: '●' },
};

export const PHASES = {
  assigned: 'Not started',
  reading: 'Being read',
  adjudicating: 'Adjudication',
  finalised: 'Finalised',
};

export function roleName(role) {
  return ROLE_NAMES[role] || role;
}

export function stateName(state) {
  return STATES[state]?.text || state.replaceAll('_', ' ');
}

export function readingName(reading) {
  // "Reader 1's reading (r1)"
  return `${roleName(reading.role)}'s reading (${reading.user})`;
}
