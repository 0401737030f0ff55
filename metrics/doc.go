// Package metrics exports a run's figures as Prometheus series: a text file
// for node_exporter's textfile collector (--metrics-file) and pushes to a
// Prometheus Pushgateway (--metrics-push).
//
// The pipeline fills a Snapshot from its counters and hands it to
// Exporter.Update every few seconds and once at the end; Exporter.Run writes
// the file and pushes on its own clock, and once more when its context ends.
// Each Exporter has its own registries; the global default registry is never
// touched, so two Exporters in one process (tests, two runs) never collide.
//
// # Series
//
// Every name starts with cardbatch_. The label values listed are always
// present (zero when the Snapshot has no entry), so a series never appears
// half-way through a run and a push replaces every label value of the
// previous one; other keys of the Snapshot's maps are exported too.
//
//	cardbatch_calls_total{result}              counter  HTTP requests sent, retries included, by outcome:
//	                                                    the API's result code ("0", "-1", "-2", "-3", or any
//	                                                    other code as the API sent it), "http_429",
//	                                                    "http_4xx" (other 4xx), "http_5xx", "no_answer"
//	                                                    (network error or timeout: no HTTP answer)
//	cardbatch_calls_by_billing_total{billing}  counter  the same calls by billing class: "charged" (0, -1),
//	                                                    "free" (-2, -3 and HTTP errors), "unknown"
//	                                                    (undocumented codes, counted as charged in estimates),
//	                                                    "none" (no answer came back; see in-doubt calls)
//	cardbatch_charged_calls_total              counter  answers with a charged result code (the summary's charged_calls)
//	cardbatch_retries_total{cause}             counter  retries by cause: "busy" (-2), "http_429", "http_5xx", "network"
//	cardbatch_rows{status}                     gauge    rows by status: ok, not_found, card_not_exist, busy,
//	                                                    invalid, duplicate, cached, failed, skipped
//	cardbatch_in_doubt_calls                   gauge    calls that may have been charged but whose answer was lost
//	cardbatch_estimated_cost                   gauge    estimated cost in the currency of the price given; 0 without a price
//	cardbatch_run_start_timestamp_seconds      gauge    when the run began (Unix time)
//	cardbatch_run_duration_seconds             gauge    time from the run's start to the snapshot
//	cardbatch_last_success_timestamp_seconds   gauge    when a run last finished with every row answered (Unix time)
//	cardbatch_rate_limit_per_second            gauge    the requested rate limit (--rate)
//	cardbatch_achieved_rate_per_second         gauge    calls per second achieved over the run
//
// # Counters and gauges
//
// The figures are a run's totals, read from its checkpoint, not events seen by
// this process, so they are exported through a Collector that turns the latest
// Snapshot into constant metrics (prometheus.MustNewConstMetric) rather than
// through Counter objects that could only be incremented. Totals that only
// grow over a run, resumed attempts included, are counters (calls, charged
// calls, retries): a new run starts them from zero again, which rate() and
// increase() read as the counter reset it is. Figures that can go down are
// gauges: rows by status (a failed row becomes ok when a resume answers it),
// in-doubt calls (resolved by the recovery), the estimated cost (the price
// may change between attempts), durations, timestamps and rates.
//
// # Labels
//
// Options.Job is the Pushgateway's job label. Options.Grouping is the
// Pushgateway's grouping key (give each shard or input its own, or their
// pushes replace each other) and the constant labels of the text file. The
// text file carries no job label: the scrape that reads it through
// node_exporter sets its own. Two runs writing files for one node_exporter
// need different Grouping labels, or node_exporter reports duplicate series.
//
// # Last success
//
// cardbatch_last_success_timestamp_seconds must survive a failed run, so an
// alert on its age fires when runs keep failing, not after one bad night.
// The Exporter sets it to Snapshot.Now when a Snapshot has Success; otherwise
// it keeps the value found in the existing text file when New ran (an
// unreadable file is treated as absent). Pushes use POST (push.Add), which
// replaces only the metric names pushed: a run that has not succeeded omits
// the series, so the Pushgateway keeps the last successful run's value,
// while every other series is always pushed and so always replaced. A PUT
// (push.Push) would replace the whole group and lose it. Before any run has
// succeeded the series is absent; alert with
//
//	time() - cardbatch_last_success_timestamp_seconds > 26*3600
//	  or absent(cardbatch_last_success_timestamp_seconds)
package metrics
