import assert from 'node:assert/strict';
import parsePrometheusTextFormat, { type PrometheusFamily, type PrometheusSample } from 'parse-prometheus-text-format';

/** One scrape of GET /metrics, parsed with the Prometheus text-format parser, with lookups for the tests. */
export class Scrape {
  constructor(
    readonly families: PrometheusFamily[],
    readonly text: string,
  ) {}

  family(name: string): PrometheusFamily | undefined {
    return this.families.find((f) => f.name === name);
  }

  private sample(name: string, labels: Record<string, string>): PrometheusSample | undefined {
    const family = this.family(name);
    return family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v) && Object.keys(m.labels ?? {}).length === Object.keys(labels).length);
  }

  /** The value of the sample with exactly these labels; undefined when there is none. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const sample = this.sample(name, labels);
    return sample?.value === undefined ? undefined : Number(sample.value);
  }

  /** A histogram's count, sum and cumulative buckets. */
  histogram(name: string): { count: number; sum: number; buckets: Map<string, number> } {
    const sample = this.family(name)?.metrics[0];
    assert.ok(sample?.buckets, `${name} is a histogram with buckets`);
    return { count: Number(sample.count), sum: Number(sample.sum), buckets: new Map(Object.entries(sample.buckets).map(([le, n]) => [le, Number(n)])) };
  }
}

/** GETs /metrics and checks what a Prometheus server would: status, content type, and that every family is typed. */
export async function scrape(base: string, init: RequestInit = {}): Promise<Scrape> {
  const response = await fetch(`${base}/metrics`, init);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(text);
  assert.ok(families.length > 0, 'the exposition has metric families');
  for (const family of families) {
    assert.notEqual(family.type, 'UNTYPED', `${family.name} has a # TYPE line`);
    assert.ok(family.help, `${family.name} has a # HELP line`);
  }
  return new Scrape(families, text);
}
