package load

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func ms(ns ...int) []time.Duration {
	d := make([]time.Duration, len(ns))
	for i, n := range ns {
		d[i] = time.Duration(n) * time.Millisecond
	}
	return d
}

func TestPct(t *testing.T) {
	ten := Sorted(ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1)) // unsorted on purpose
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Microsecond
	}
	for _, tc := range []struct {
		name string
		l    Latencies
		p    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one p0", Sorted(ms(7)), 0, 7 * time.Millisecond},
		{"one p50", Sorted(ms(7)), 0.5, 7 * time.Millisecond},
		{"one p99", Sorted(ms(7)), 0.99, 7 * time.Millisecond},
		{"ten p0 is the fastest", ten, 0, 1 * time.Millisecond},
		{"ten p50 is the lower median", ten, 0.5, 5 * time.Millisecond},
		{"ten p90", ten, 0.9, 9 * time.Millisecond},
		{"ten p99", ten, 0.99, 9 * time.Millisecond},
		{"ten p100 is the slowest", ten, 1, 10 * time.Millisecond},
		{"odd count p50 is the median", Sorted(ms(3, 1, 2)), 0.5, 2 * time.Millisecond},
		{"hundred p50", Sorted(hundred), 0.5, 50 * time.Microsecond},
		{"hundred p99", Sorted(hundred), 0.99, 99 * time.Microsecond},
		{"below 0 clamps", ten, -1, 1 * time.Millisecond},
		{"above 1 clamps", ten, 2, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.l.Pct(tc.p); got != tc.want {
				t.Errorf("Pct(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestPctName(t *testing.T) {
	for p, want := range map[float64]string{0.5: "p50", 0.99: "p99", 0.999: "p99.9", 0.9: "p90", 1: "p100", 0: "p0"} {
		if got := PctName(p); got != want {
			t.Errorf("PctName(%v) = %q, want %q", p, got, want)
		}
	}
}

func TestMicros(t *testing.T) {
	if got := Micros(1500 * time.Nanosecond); got != 1.5 {
		t.Errorf("Micros(1.5µs) = %v", got)
	}
}

// Every index runs exactly once, on a worker index in range, whatever n and
// the number of workers.
func TestRunEveryIndexOnce(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{
		{0, 4}, {1, 1}, {1, 64}, {7, 3}, {100, 1}, {1000, 16}, {5, 0}, {5, -2},
	} {
		t.Run(fmt.Sprintf("n=%d/workers=%d", tc.n, tc.workers), func(t *testing.T) {
			counts := make([]atomic.Int32, tc.n)
			var badWorker atomic.Int32
			r := Run(tc.n, tc.workers, func(w, i int) error {
				if w < 0 || w >= max(1, tc.workers) {
					badWorker.Add(1)
				}
				counts[i].Add(1)
				return nil
			})
			for i := range counts {
				if c := counts[i].Load(); c != 1 {
					t.Errorf("index %d ran %d times", i, c)
				}
			}
			if badWorker.Load() != 0 {
				t.Errorf("%d ops on a worker index out of range", badWorker.Load())
			}
			if r.N != tc.n || len(r.Latency) != tc.n || r.Err() != nil {
				t.Errorf("N %d, latencies %d, err %v; want %d, %d, nil", r.N, len(r.Latency), r.Err(), tc.n, tc.n)
			}
			for i := 1; i < len(r.Latency); i++ {
				if r.Latency[i] < r.Latency[i-1] {
					t.Fatalf("latencies not sorted at %d", i)
				}
			}
		})
	}
}

// At most workers operations run at once, each worker runs its operations
// one at a time, and the bound is reached.
func TestRunConcurrencyBound(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{50, 1}, {50, 4}, {200, 16}, {3, 8}} {
		t.Run(fmt.Sprintf("n=%d/workers=%d", tc.n, tc.workers), func(t *testing.T) {
			want := min(tc.n, tc.workers)
			var inFlight, peak atomic.Int32
			var reached atomic.Bool
			busy := make([]atomic.Bool, want)
			r := Run(tc.n, tc.workers, func(w, i int) error {
				if busy[w].Swap(true) {
					return fmt.Errorf("worker %d ran two ops at once", w)
				}
				defer busy[w].Store(false)
				now := inFlight.Add(1)
				defer inFlight.Add(-1)
				for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
				}
				// The first wave waits for every worker to be in (so the
				// bound is reached, however slowly goroutines start).
				for deadline := time.Now().Add(10 * time.Second); !reached.Load() && time.Now().Before(deadline); {
					if inFlight.Load() >= int32(want) {
						reached.Store(true)
					}
					time.Sleep(100 * time.Microsecond)
				}
				return nil
			})
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			if got := peak.Load(); got != int32(want) {
				t.Errorf("peak concurrency %d, want %d", got, want)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	failOn := func(i int) bool { return i%7 == 3 }
	for _, workers := range []int{1, 5} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			const n = 100
			r := Run(n, workers, func(_, i int) error {
				if failOn(i) {
					return fmt.Errorf("op %d", i)
				}
				return nil
			})
			var want []string
			for i := 0; i < n; i++ {
				if failOn(i) {
					want = append(want, fmt.Sprintf("op %d", i))
				}
			}
			var got []string
			for _, err := range r.Errors {
				got = append(got, err.Error())
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("errors %v, want %v (every failure, in index order)", got, want)
			}
			if r.N != n || len(r.Latency) != n-len(want) {
				t.Errorf("N %d latencies %d, want %d and %d (failures not timed)", r.N, len(r.Latency), n, n-len(want))
			}
			if err := r.Err(); err == nil || !strings.HasPrefix(err.Error(), "14 of 100 operations failed: op 3; op 10; op 17; and 11 more") {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}

func TestRunUntilError(t *testing.T) {
	boom := errors.New("boom")
	r := RunUntilError(1000, 1, func(_, i int) error {
		if i == 10 {
			return boom
		}
		return nil
	})
	if r.N != 11 || len(r.Errors) != 1 || !errors.Is(r.Errors[0], boom) || len(r.Latency) != 10 {
		t.Errorf("N %d errors %v latencies %d; want 11, [boom], 10", r.N, r.Errors, len(r.Latency))
	}
	r = RunUntilError(1000, 4, func(_, i int) error {
		if i >= 20 {
			return boom
		}
		return nil
	})
	// At most one more op per worker once the first failed.
	if r.N < 21 || r.N > 24 || len(r.Errors) == 0 || len(r.Errors) > 4 {
		t.Errorf("N %d errors %d; want 21..24 and 1..4", r.N, len(r.Errors))
	}
}

func TestFirstErrors(t *testing.T) {
	e := func(s ...string) []error {
		var out []error
		for _, x := range s {
			out = append(out, errors.New(x))
		}
		return out
	}
	for _, tc := range []struct {
		errs []error
		k    int
		want string
	}{
		{nil, 3, ""},
		{e("a"), 3, "a"},
		{e("a", "b", "c"), 3, "a; b; c"},
		{e("a", "b", "c", "d", "e"), 3, "a; b; c; and 2 more"},
		{e("a", "b"), 0, "; and 2 more"},
	} {
		if got := FirstErrors(tc.errs, tc.k); got != tc.want {
			t.Errorf("FirstErrors(%v, %d) = %q, want %q", tc.errs, tc.k, got, tc.want)
		}
	}
}

func TestRecorder(t *testing.T) {
	var r Recorder
	boom := errors.New("boom")
	Run(40, 4, func(_, i int) error {
		if i%4 == 0 {
			if err := r.Time(func() error { return boom }); !errors.Is(err, boom) {
				t.Errorf("Time returned %v, want boom", err)
			}
			return nil
		}
		return r.Time(func() error { return nil })
	})
	if l := r.Latencies(); len(l) != 30 {
		t.Errorf("%d recorded, want 30 (failures not timed)", len(l))
	}
}

func TestRateAndCPU(t *testing.T) {
	r := &Result{N: 10, Elapsed: 2 * time.Second, CPU: 50 * time.Millisecond}
	if r.Rate() != 5 || r.CPUPerOp() != 5*time.Millisecond {
		t.Errorf("rate %v cpu/op %v", r.Rate(), r.CPUPerOp())
	}
	if (&Result{}).Rate() != 0 || (&Result{}).CPUPerOp() != 0 {
		t.Error("an empty result has a rate or CPU")
	}
	// A busy run uses some CPU (where the platform tells).
	r = Run(4, 2, func(_, _ int) error {
		for t0 := time.Now(); time.Since(t0) < 20*time.Millisecond; {
		}
		return nil
	})
	if r.CPU < 0 || r.Elapsed < 20*time.Millisecond {
		t.Errorf("cpu %v elapsed %v", r.CPU, r.Elapsed)
	}
}

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int
	}{{"", 7}, {"12", 12}, {"0", 7}, {"-3", 7}, {"x", 7}} {
		t.Setenv("LOAD_TEST_SIZE", tc.env)
		if got := Size("LOAD_TEST_SIZE", 7); got != tc.want {
			t.Errorf("Size with %q = %d, want %d", tc.env, got, tc.want)
		}
	}
}

func BenchmarkBenchHelper(b *testing.B) {
	r := Bench(b, 2, func(_, _ int) error { return nil })
	if r.N != b.N {
		b.Fatalf("N %d, b.N %d", r.N, b.N)
	}
	r.Report(b, "ops/s", 0.5, 0.99)
	r.ReportCPU(b)
}
