/** Outcome of one benchmark: readable lines to print and named figures for docs/benchmarks.md. */
export interface BenchResult {
  name: string;
  lines: string[];
  metrics: Record<string, number>;
}
