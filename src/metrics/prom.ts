// prom-client's classes, loaded without its index: the index also loads the
// default collectors, the cluster module and the push gateway, which add to
// every start-up (measured: 20–80 ms for these four files against 70–140 ms
// more for the whole package, from source on a busy 2-core machine). Types
// come from the package; AggregatorRegistry (workers.ts) is imported there.
import type * as PromClient from "prom-client";
import RegistryClass from "prom-client/lib/registry.js";
import CounterClass from "prom-client/lib/counter.js";
import GaugeClass from "prom-client/lib/gauge.js";
import HistogramClass from "prom-client/lib/histogram.js";

export const Registry = RegistryClass as typeof PromClient.Registry;
export const Counter = CounterClass as typeof PromClient.Counter;
export const Gauge = GaugeClass as typeof PromClient.Gauge;
export const Histogram = HistogramClass as typeof PromClient.Histogram;
export type Registry = PromClient.Registry;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
