import { logger } from '@libp2p/logger'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type {
  Counter as IcnetCounter, Gauge as IcnetGauge, Histogram as IcnetHistogram, HistogramOptions, Labels, MetricOptions, Metrics
} from '@icnet/types'

const log = logger('icnet:replica:metrics')

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>

/** prom-client label values must be strings; ours may be numbers (codes, heights of small sets). */
function promLabels (labels?: Labels): Record<string, string> | undefined {
  if (labels == null) return undefined
  const out: Record<string, string> = {}
  for (const k in labels) out[k] = String(labels[k])
  return out
}

/**
 * The `Metrics` interface of @icnet/types backed by a prom-client registry, so
 * every package's counters, gauges and histograms appear on the replica's
 * `/metrics`. A name asked for twice (two services sharing a metric family)
 * returns the same metric; asking for one name as two different types throws.
 */
export class PromMetrics implements Metrics {
  readonly registry: Registry
  private readonly byName = new Map<string, { type: string, metric: AnyMetric }>()

  constructor (opts: { registry?: Registry, defaultLabels?: Record<string, string>, processMetrics?: boolean } = {}) {
    this.registry = opts.registry ?? new Registry()
    if (opts.defaultLabels != null) this.registry.setDefaultLabels(opts.defaultLabels)
    if (opts.processMetrics === true) collectDefaultMetrics({ register: this.registry })
  }

  private get<T extends AnyMetric> (type: string, name: string, make: () => T): T {
    const known = this.byName.get(name)
    if (known != null) {
      if (known.type !== type) throw new TypeError(`metric ${name} is a ${known.type}, not a ${type}`)
      return known.metric as T
    }
    const metric = make()
    this.byName.set(name, { type, metric })
    return metric
  }

  /**
   * A metric update never fails the caller: a mistake in a metric's labels
   * (e.g. a label that was not declared) is reported once per metric and
   * counted, and the update is dropped.
   */
  private guard (name: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.misuse.inc({ metric: name.slice(0, 100) })
      if (!this.warned.has(name) && this.warned.size < 1000) {
        this.warned.add(name)
        log.error('metric %s: %s', name, (err as Error).message)
      }
    }
  }

  private readonly warned = new Set<string>()
  private get misuse (): Counter<'metric'> {
    this._misuse ??= new Counter({ name: 'icnet_replica_metric_errors_total', help: 'Metric updates dropped because of a labelling mistake', labelNames: ['metric'], registers: [this.registry] })
    return this._misuse
  }

  private _misuse?: Counter<'metric'>

  counter (opts: MetricOptions): IcnetCounter {
    const c = this.get('counter', opts.name, () => new Counter({ name: opts.name, help: opts.help, labelNames: [...(opts.labelNames ?? [])], registers: [this.registry] }))
    return {
      inc: (value = 1, labels) => {
        this.guard(opts.name, () => {
          const l = promLabels(labels)
          if (l === undefined) c.inc(value)
          else c.inc(l, value)
        })
      }
    }
  }

  gauge (opts: MetricOptions): IcnetGauge {
    const g = this.get('gauge', opts.name, () => new Gauge({ name: opts.name, help: opts.help, labelNames: [...(opts.labelNames ?? [])], registers: [this.registry] }))
    return {
      set: (value, labels) => { this.guard(opts.name, () => { const l = promLabels(labels); if (l === undefined) g.set(value); else g.set(l, value) }) },
      inc: (value = 1, labels) => { this.guard(opts.name, () => { const l = promLabels(labels); if (l === undefined) g.inc(value); else g.inc(l, value) }) },
      dec: (value = 1, labels) => { this.guard(opts.name, () => { const l = promLabels(labels); if (l === undefined) g.dec(value); else g.dec(l, value) }) }
    }
  }

  histogram (opts: HistogramOptions): IcnetHistogram {
    const h = this.get('histogram', opts.name, () => new Histogram({
      name: opts.name,
      help: opts.help,
      labelNames: [...(opts.labelNames ?? [])],
      registers: [this.registry],
      ...(opts.buckets != null ? { buckets: [...opts.buckets] } : {})
    }))
    const observe = (value: number, labels?: Labels): void => {
      this.guard(opts.name, () => {
        const l = promLabels(labels)
        if (l === undefined) h.observe(value)
        else h.observe(l, value)
      })
    }
    return {
      observe,
      startTimer: (labels) => {
        const t0 = performance.now()
        return () => { const s = (performance.now() - t0) / 1000; observe(s, labels); return s }
      }
    }
  }

  /** The Prometheus text exposition of everything registered. */
  async exposition (): Promise<{ contentType: string, body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}
