// Package load runs an operation many times across concurrent workers and
// measures it, for the benchmarks and load tests of backend/ and e2e/. It
// owns what those share: the worker loop (n operations, or b.N, over a
// bounded number of goroutines), the per-operation latencies and errors it
// collects, percentiles of them, process CPU time per operation, and
// reporting those figures with b.ReportMetric.
//
// It is test infrastructure and must stay that way: it knows nothing of
// Vault or Password Safe (no leases, roles, accounts or simulator; a
// caller's operation is an opaque func), names no metric but the generic
// pNN-us and cpu-ns/op (callers name their rates and prefixes, so the
// figures scripts/bench.sh parses are chosen where they are reported), keeps
// no global state, and is imported only from _test.go files.
package load

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Op is one operation: i is its index in [0, n), worker the index in
// [0, workers) of the goroutine running it. One worker runs its operations
// one after another, so per-worker state (an account of its own, say)
// needs no locking.
type Op func(worker, i int) error

// Result is what a run measured.
type Result struct {
	// N is the number of operations that ran (all n, unless the run
	// stopped at an error).
	N int
	// Errors are the failed operations' errors, in index order.
	Errors []error
	// Latency holds the duration of every operation that succeeded.
	Latency Latencies
	// Elapsed is the wall time of the whole run.
	Elapsed time.Duration
	// CPU is the process's CPU time (user+system, every goroutine, not just
	// the workers') over the run; 0 where the platform does not tell.
	CPU time.Duration
}

// Run runs op once for every index in [0, n) on at most workers goroutines
// (at least one), each taking the next index as it becomes free, and
// returns when all have returned.
func Run(n, workers int, op Op) *Result { return run(n, workers, false, op) }

// RunUntilError is Run except that no operation starts once one has failed
// (those already running finish): for loads where the first failure makes
// the rest pointless.
func RunUntilError(n, workers int, op Op) *Result { return run(n, workers, true, op) }

type failure struct {
	i   int
	err error
}

type worker struct {
	ops   int
	lat   []time.Duration
	fails []failure
}

func run(n, workers int, stopOnError bool, op Op) *Result {
	workers = max(1, min(workers, n))
	r := &Result{}
	if n <= 0 {
		return r
	}
	ws := make([]worker, workers)
	for w := range ws {
		ws[w].lat = make([]time.Duration, 0, n/workers+1)
	}
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	for w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := &ws[w]
			for {
				if stopOnError && failed.Load() {
					return
				}
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				me.ops++
				t0 := time.Now()
				err := op(w, i)
				d := time.Since(t0)
				if err != nil {
					me.fails = append(me.fails, failure{i, err})
					failed.Store(true)
					continue
				}
				me.lat = append(me.lat, d)
			}
		}()
	}
	wg.Wait()
	r.Elapsed = time.Since(start)
	r.CPU = cpuTime() - cpu0
	var fails []failure
	lat := ws[0].lat // one worker's slice as is: no copy for a serial run
	for w := range ws {
		r.N += ws[w].ops
		if w > 0 {
			lat = append(lat, ws[w].lat...)
		}
		fails = append(fails, ws[w].fails...)
	}
	slices.Sort(lat)
	r.Latency = lat
	slices.SortFunc(fails, func(a, b failure) int { return a.i - b.i })
	for _, f := range fails {
		r.Errors = append(r.Errors, f.err)
	}
	return r
}

// Err is nil if every operation succeeded, else an error saying how many of
// how many failed, with the first few errors.
func (r *Result) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d operations failed: %s", len(r.Errors), r.N, FirstErrors(r.Errors, 3))
}

// Rate is operations per second of wall time.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.N) / r.Elapsed.Seconds()
}

// CPUPerOp is the process CPU time per operation.
func (r *Result) CPUPerOp() time.Duration {
	if r.N == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.N)
}

// Bench runs op b.N times on workers goroutines (RunUntilError), with the
// benchmark timer running over the run only, and fails b on an error.
// Besides ns/op, report figures from the Result (Report, ReportCPU).
func Bench(b *testing.B, workers int, op Op) *Result {
	b.Helper()
	b.ResetTimer()
	r := RunUntilError(b.N, workers, op)
	b.StopTimer()
	if err := r.Err(); err != nil {
		b.Fatal(err)
	}
	return r
}

// Report reports the run's rate (operations per second) as rateUnit, unless
// it is "", and the latency percentiles ps as pNN-us (see Latencies.Report).
func (r *Result) Report(b *testing.B, rateUnit string, ps ...float64) {
	if rateUnit != "" {
		b.ReportMetric(r.Rate(), rateUnit)
	}
	r.Latency.Report(b, "", ps...)
}

// ReportCPU reports the process CPU time per operation as cpu-ns/op: on a
// shared machine a steadier comparison than wall time.
func (r *Result) ReportCPU(b *testing.B) {
	if r.N > 0 {
		b.ReportMetric(float64(r.CPU.Nanoseconds())/float64(r.N), "cpu-ns/op")
	}
}

// Latencies are durations sorted ascending (Run, Sorted and
// Recorder.Latencies make them so).
type Latencies []time.Duration

// Sorted is a sorted copy of ds.
func Sorted(ds []time.Duration) Latencies {
	l := slices.Clone(ds)
	slices.Sort(l)
	return l
}

// Pct is the p-quantile, p in [0, 1]: the element at index ⌊(len-1)·p⌋, so
// Pct(0) is the fastest, Pct(1) the slowest and Pct(0.5) the median (the
// lower one of an even count); 0 if there is none.
func (l Latencies) Pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	p = min(max(p, 0), 1)
	return l[int(float64(len(l)-1)*p)]
}

// Report reports each percentile p of ps in microseconds as
// prefix+PctName(p)+"-us": Report(b, "backend-", 0.5) reports
// backend-p50-us.
func (l Latencies) Report(b *testing.B, prefix string, ps ...float64) {
	for _, p := range ps {
		b.ReportMetric(Micros(l.Pct(p)), prefix+PctName(p)+"-us")
	}
}

// PctName names the percentile p: p50 for 0.5, p99 for 0.99, p99.9 for 0.999.
func PctName(p float64) string {
	return "p" + strconv.FormatFloat(math.Round(p*1e4)/100, 'f', -1, 64)
}

// Micros is d in microseconds, fractions kept.
func Micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// Recorder collects the durations of operations timed one by one, for
// measurements Run does not fit (several operations paired op by op in one
// loop, each with a Recorder of its own). It is safe for concurrent use.
type Recorder struct {
	mu sync.Mutex
	d  []time.Duration
}

// Time runs f and records its duration if it succeeded; it returns f's error.
func (r *Recorder) Time(f func() error) error {
	t0 := time.Now()
	if err := f(); err != nil {
		return err
	}
	d := time.Since(t0)
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
	return nil
}

// Latencies is what r recorded so far, sorted.
func (r *Recorder) Latencies() Latencies {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Sorted(r.d)
}

// FirstErrors joins the first k of errs with "; ", and says how many more
// there are.
func FirstErrors(errs []error, k int) string {
	var b strings.Builder
	for i, err := range errs {
		if i == k {
			fmt.Fprintf(&b, "; and %d more", len(errs)-k)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// Size is the positive integer in the environment variable name, else def:
// how a caller lets a run be scaled up (PERF_N, STORM_LEASES) while plain
// `go test` stays small.
func Size(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
