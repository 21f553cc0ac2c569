/**
 * The metrics interface every icnet package writes to. Protocol packages never
 * import prom-client: the replica plugs in a Prometheus-backed implementation,
 * tests use `InMemoryMetrics`, and the default is `noopMetrics`.
 * Label values must come from bounded sets (codes, outcomes, subnet ids), never peer ids.
 */
export type Labels = Record<string, string | number>

export interface Counter {
  inc(value?: number, labels?: Labels): void
}

export interface Gauge {
  set(value: number, labels?: Labels): void
  inc(value?: number, labels?: Labels): void
  dec(value?: number, labels?: Labels): void
}

export interface Histogram {
  observe(value: number, labels?: Labels): void
  /** Starts a timer; calling the result observes the elapsed seconds and returns them. */
  startTimer(labels?: Labels): () => number
}

export interface MetricOptions {
  name: string
  help: string
  labelNames?: readonly string[]
}

export interface HistogramOptions extends MetricOptions {
  buckets?: readonly number[]
}

export interface Metrics {
  counter(opts: MetricOptions): Counter
  gauge(opts: MetricOptions): Gauge
  histogram(opts: HistogramOptions): Histogram
}

const noopCounter: Counter = { inc () {} }
const noopGauge: Gauge = { set () {}, inc () {}, dec () {} }
const noopHistogram: Histogram = { observe () {}, startTimer: () => () => 0 }

/** Discards everything. */
export const noopMetrics: Metrics = {
  counter: () => noopCounter,
  gauge: () => noopGauge,
  histogram: () => noopHistogram
}

function labelKey (labels?: Labels): string {
  if (labels == null) return ''
  return Object.keys(labels).sort().map(k => `${k}=${labels[k]}`).join(',')
}

/** Keeps every value in memory; for tests, demos and live progress displays. */
export class InMemoryMetrics implements Metrics {
  readonly values = new Map<string, Map<string, number>>()
  readonly observations = new Map<string, Map<string, number[]>>()
  /** Cap on stored observations per series, so a long run stays bounded. */
  readonly maxObservations: number

  constructor (maxObservations = 100_000) {
    this.maxObservations = maxObservations
  }

  private series (name: string): Map<string, number> {
    let s = this.values.get(name)
    if (s == null) { s = new Map(); this.values.set(name, s) }
    return s
  }

  counter (opts: MetricOptions): Counter {
    const s = this.series(opts.name)
    return { inc: (v = 1, l) => { const k = labelKey(l); s.set(k, (s.get(k) ?? 0) + v) } }
  }

  gauge (opts: MetricOptions): Gauge {
    const s = this.series(opts.name)
    return {
      set: (v, l) => { s.set(labelKey(l), v) },
      inc: (v = 1, l) => { const k = labelKey(l); s.set(k, (s.get(k) ?? 0) + v) },
      dec: (v = 1, l) => { const k = labelKey(l); s.set(k, (s.get(k) ?? 0) - v) }
    }
  }

  histogram (opts: HistogramOptions): Histogram {
    let o = this.observations.get(opts.name)
    if (o == null) { o = new Map(); this.observations.set(opts.name, o) }
    const obs = o
    const observe = (v: number, l?: Labels): void => {
      const k = labelKey(l)
      let arr = obs.get(k)
      if (arr == null) { arr = []; obs.set(k, arr) }
      if (arr.length < this.maxObservations) arr.push(v)
    }
    return {
      observe,
      startTimer: (l) => {
        const t0 = performance.now()
        return () => { const s = (performance.now() - t0) / 1000; observe(s, l); return s }
      }
    }
  }

  /** The value of a counter or gauge (summed over all label sets when `labels` is omitted). */
  get (name: string, labels?: Labels): number {
    const s = this.values.get(name)
    if (s == null) return 0
    if (labels !== undefined) return s.get(labelKey(labels)) ?? 0
    let sum = 0
    for (const v of s.values()) sum += v
    return sum
  }

  /** All observations of a histogram (over all label sets when `labels` is omitted). */
  observed (name: string, labels?: Labels): number[] {
    const o = this.observations.get(name)
    if (o == null) return []
    if (labels !== undefined) return o.get(labelKey(labels)) ?? []
    return [...o.values()].flat()
  }
}
