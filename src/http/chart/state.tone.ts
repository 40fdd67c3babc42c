/**
 * Colour by meaning where the state's name says it (the contract's four
 * statuses); any other state a future machine adds is drawn neutral.
 */
const TONES: Record<string, string> = { Initiated: 'pending', Processing: 'active', Success: 'success', Failed: 'failed' };

export function stateTone(name: string, final = false): string {
  return TONES[name] ?? (final ? 'final' : 'neutral');
}
