/**
 * Colour by meaning where the state's name says it; any other state a future
 * machine adds is drawn neutral. A refunded payment was charged and then given
 * back: it reads as settled (pending grey), not as a failure; a dispute is
 * money at risk, so it is drawn as the failures are.
 */
const TONES: Record<string, string> = {
  Initiated: 'pending',
  Processing: 'active',
  Success: 'success',
  PartiallyRefunded: 'success',
  Refunded: 'pending',
  Disputed: 'failed',
  Failed: 'failed',
};

export function stateTone(name: string, final = false): string {
  return TONES[name] ?? (final ? 'final' : 'neutral');
}
