package client

import (
	"math"
	"sort"
	"sync/atomic"
	"time"
)

// Metrics counts a set of clients' calls to Password Safe per endpoint:
// calls, failures by kind, retries and a latency histogram. Recording is a
// few atomic additions, no lock and no allocation. Share one among the
// clients whose calls should add up (Config.Metrics); the zero Metrics is
// not usable, call NewMetrics. There is no global instance.
type Metrics struct {
	since time.Time
	eps   [len(endpointNames)]endpointMetrics
	other endpointMetrics // an operation not in the table (never expected)
}

// Latency histogram bucket upper bounds. A call slower than the last one
// falls in the overflow bucket.
var latencyBounds = [...]time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
}

type endpointMetrics struct {
	calls     atomic.Uint64
	failed    atomic.Uint64 // every call that did not end in a 2xx
	http4xx   atomic.Uint64
	http5xx   atomic.Uint64
	transport atomic.Uint64 // no HTTP answer: refused, reset, timeout, TLS, proxy
	retries   atomic.Uint64
	sumNanos  atomic.Uint64
	maxNanos  atomic.Uint64
	buckets   [len(latencyBounds) + 1]atomic.Uint64
	lastErr   atomic.Pointer[lastError]
}

type lastError struct {
	at  time.Time
	msg string
}

// endpointNames are the operations a Client makes, in the order Snapshot
// lists them.
var endpointNames = [...]string{
	opToken, opSignAppin, opSignout, opListRequests, opCreateRequest, opAliasRequest,
	opCheckin, opApprove, opDeny, opRotateOnCheckin, opCredential, opAliasCredential,
	opManagedAccounts, opManagedSystems, opAliases, opAlias, opISARequest,
	opChangeCreds, opFolders, opSecrets, opSecret, opSecretFile,
}

// endpointIndex maps an operation to its slot; built once, read-only after.
var endpointIndex = func() map[string]int {
	m := make(map[string]int, len(endpointNames))
	for i, n := range endpointNames {
		m[n] = i
	}
	return m
}()

// NewMetrics returns empty metrics whose Since is now.
func NewMetrics() *Metrics { return &Metrics{since: time.Now()} }

func (m *Metrics) endpoint(op string) *endpointMetrics {
	if i, ok := endpointIndex[op]; ok {
		return &m.eps[i]
	}
	return &m.other
}

// record adds one finished call: its whole duration (every attempt and
// retry wait), how many retries it took, and its outcome. status is the
// HTTP status of a failure (0: no HTTP answer); msg is the failure's
// message, already free of secrets.
func (m *Metrics) record(op string, d time.Duration, retries int, err error, status int) {
	if m == nil {
		return
	}
	e := m.endpoint(op)
	e.calls.Add(1)
	if retries > 0 {
		e.retries.Add(uint64(retries))
	}
	ns := uint64(max(d, 0))
	e.sumNanos.Add(ns)
	for {
		cur := e.maxNanos.Load()
		if ns <= cur || e.maxNanos.CompareAndSwap(cur, ns) {
			break
		}
	}
	i := sort.Search(len(latencyBounds), func(i int) bool { return d <= latencyBounds[i] })
	e.buckets[i].Add(1)
	if err == nil {
		return
	}
	e.failed.Add(1)
	switch {
	case status >= 500:
		e.http5xx.Add(1)
	case status >= 400:
		e.http4xx.Add(1)
	case status == 0:
		e.transport.Add(1)
	}
	e.lastErr.Store(&lastError{at: time.Now(), msg: err.Error()})
}

// EndpointStats is what Metrics knows of one endpoint. Latencies are of
// whole calls (all attempts and retry waits); the percentiles are read off
// the histogram, interpolated within a bucket, so they are estimates.
type EndpointStats struct {
	Endpoint  string // e.g. "POST Requests"
	Calls     uint64
	Failed    uint64 // calls that did not end in a 2xx (including 404s the caller expects)
	HTTP4xx   uint64
	HTTP5xx   uint64
	Transport uint64 // no HTTP answer
	Retries   uint64
	Mean      time.Duration
	Max       time.Duration
	P50       time.Duration
	P90       time.Duration
	P99       time.Duration
	// LastError is the newest failure's message (never a secret: errors are
	// redacted as they are made, and credential bodies never quoted), and
	// LastErrorAt when it happened; empty and zero when none.
	LastError   string
	LastErrorAt time.Time
}

// MetricsSnapshot is a copy of Metrics at one moment.
type MetricsSnapshot struct {
	Since     time.Time
	Endpoints []EndpointStats // endpoints called at least once, in a fixed order
	Total     EndpointStats   // every endpoint together (no LastError)
}

// Snapshot copies the counters. Counters read while calls finish may be a
// call apart from each other; nothing is ever lost.
func (m *Metrics) Snapshot() MetricsSnapshot {
	out := MetricsSnapshot{Since: m.since}
	var total [len(latencyBounds) + 1]uint64
	add := func(name string, e *endpointMetrics) {
		n := e.calls.Load()
		if n == 0 {
			return
		}
		var b [len(latencyBounds) + 1]uint64
		for i := range b {
			b[i] = e.buckets[i].Load()
			total[i] += b[i]
		}
		s := EndpointStats{
			Endpoint: name, Calls: n, Failed: e.failed.Load(),
			HTTP4xx: e.http4xx.Load(), HTTP5xx: e.http5xx.Load(), Transport: e.transport.Load(),
			Retries: e.retries.Load(),
			Mean:    time.Duration(e.sumNanos.Load() / n), Max: time.Duration(e.maxNanos.Load()),
		}
		s.P50, s.P90, s.P99 = percentile(b[:], 0.50, s.Max), percentile(b[:], 0.90, s.Max), percentile(b[:], 0.99, s.Max)
		if le := e.lastErr.Load(); le != nil {
			s.LastError, s.LastErrorAt = le.msg, le.at
		}
		out.Endpoints = append(out.Endpoints, s)
		t := &out.Total
		t.Calls += s.Calls
		t.Failed += s.Failed
		t.HTTP4xx += s.HTTP4xx
		t.HTTP5xx += s.HTTP5xx
		t.Transport += s.Transport
		t.Retries += s.Retries
		t.Mean += time.Duration(e.sumNanos.Load()) // summed here, divided below
		t.Max = max(t.Max, s.Max)
	}
	for i := range m.eps {
		add(endpointNames[i], &m.eps[i])
	}
	add("other", &m.other)
	out.Total.Endpoint = "all"
	if out.Total.Calls > 0 {
		out.Total.Mean /= time.Duration(out.Total.Calls)
		t := &out.Total
		t.P50, t.P90, t.P99 = percentile(total[:], 0.50, t.Max), percentile(total[:], 0.90, t.Max), percentile(total[:], 0.99, t.Max)
	}
	return out
}

// percentile estimates the q-quantile of a histogram: linear within the
// bucket it falls in, never above the largest value seen.
func percentile(b []uint64, q float64, maxSeen time.Duration) time.Duration {
	var n uint64
	for _, c := range b {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range b {
		if c == 0 || seen+c < rank {
			seen += c
			continue
		}
		lo := time.Duration(0)
		if i > 0 {
			lo = latencyBounds[i-1]
		}
		hi := maxSeen
		if i < len(latencyBounds) {
			hi = min(latencyBounds[i], maxSeen)
		}
		if hi < lo {
			return hi
		}
		frac := float64(rank-seen) / float64(c)
		return lo + time.Duration(frac*float64(hi-lo))
	}
	return maxSeen
}
