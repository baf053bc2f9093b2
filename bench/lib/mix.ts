/**
 * The mixed workload's schedule: request n is a write when n is a multiple of ten, a read
 * otherwise. Writes go to members in turn; reads go to members in turn too, counted by reads
 * alone, so every member written is read again soon after (and finds its cache purged).
 * `member` is an index into the population, before taking it modulo the population's size.
 */
export function mixedStep(n: number): { write: boolean; member: number } {
  if (n % 10 === 0) return { write: true, member: n / 10 };
  // Reads before request n: n requests, less the writes among them (0, 10, ..., up to n).
  return { write: false, member: n - Math.ceil(n / 10) };
}
