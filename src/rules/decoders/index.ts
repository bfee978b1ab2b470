// Interim stub until the decoders branch is merged (the lead takes that branch's file).
import type { TwEvent } from '../../event.js';

export function decode(_ev: TwEvent): boolean {
  return false;
}
