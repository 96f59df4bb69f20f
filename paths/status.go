package paths

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

const statusHelpSynopsis = "The mount's state for operators: holdings, queues, sessions, upstream calls."

const statusHelpDescription = `
What this mount holds in Password Safe and how its calls to Password Safe
fare, since the plugin process started. Vault does not scrape an external
plugin's metrics, so this is where operators look. It never shows a secret.

  requests   the requests the mount holds (held), live leases on them,
             pending claims (approved requests waiting for requests/<id>/creds),
             orphans (waiting for approval, to be checked in then), pending
             (requests with either), ended (checked in by an operator, leases
             left), per role and per run-as user, the oldest holder and the
             soonest expiry
  checkin_queue
             check-ins Password Safe did not take yet: count, the oldest,
             the next try, the most tries, the newest error
  wal        checkouts that never finished (rolled back once rollback_after old)
  sessions   cached upstream sessions per run-as user, how many signed in
  upstream   per Password Safe endpoint: calls, failures (4xx, 5xx, no
             answer), retries, latency (mean, p50, p90, p99, max in ms; the
             percentiles are estimates from a histogram), the last error;
             and the total
  events     Vault events sent, dropped (queue full) and failed

Reading it lists and reads every record, queued check-in and WAL entry of
the mount, so its cost grows with what the mount holds: fine for an
operator or a monitor every minute, not for every request. It is local to
the node that answers (a standby's counters are its own).

    vault read passwordsafe/status
    vault read -format=json passwordsafe/status | jq .data.upstream.total

Give it to operators only (policy: path "passwordsafe/status" { capabilities = ["read"] }).
`

func statusPaths(engine *backend.Engine) []*framework.Path {
	h := &statusHandler{engine: engine}
	obj := func(desc string) *framework.FieldSchema {
		return &framework.FieldSchema{Type: framework.TypeMap, Description: desc}
	}
	return []*framework.Path{{
		Pattern: "status$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: OperationPrefix,
			OperationSuffix: "status",
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     h.read,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
				Summary:      "Read the mount's holdings, check-in queue, WAL, sessions, upstream call metrics and events.",
				Responses: map[int][]framework.Response{
					200: {{
						Description: "OK",
						Fields: map[string]*framework.FieldSchema{
							"now":           {Type: framework.TypeString, Description: "The engine's clock (RFC 3339)."},
							"requests":      obj("Requests held: held, leases, pending_claims, orphans, pending, ended, by_role, by_run_as, oldest_since, next_expiry."),
							"checkin_queue": obj("Queued check-ins: count, oldest_request_id, oldest_queued_at, next_try, max_tries, last_error."),
							"wal":           obj("Unfinished checkouts: unfinished, oldest, rollback_after_seconds."),
							"sessions":      obj("Upstream sessions: cached, signed_in, max, by_run_as."),
							"upstream":      obj("Calls to Password Safe since start: since, total, endpoints (per endpoint: calls, failed, http_4xx, http_5xx, transport, retries, mean_ms, p50_ms, p90_ms, p99_ms, max_ms, last_error, last_error_at)."),
							"events":        obj("Vault events: sent, dropped, failed."),
						},
					}},
				},
			},
		},
		HelpSynopsis:    statusHelpSynopsis,
		HelpDescription: strings.TrimSpace(statusHelpDescription),
	}}
}

type statusHandler struct{ engine *backend.Engine }

func (h *statusHandler) read(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	st, err := h.engine.Status(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: statusData(st)}, nil
}

func timeOrNull(t time.Time) interface{} {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

func endpointData(e client.EndpointStats) map[string]interface{} {
	m := map[string]interface{}{
		"calls":     e.Calls,
		"failed":    e.Failed,
		"http_4xx":  e.HTTP4xx,
		"http_5xx":  e.HTTP5xx,
		"transport": e.Transport,
		"retries":   e.Retries,
		"mean_ms":   ms(e.Mean),
		"p50_ms":    ms(e.P50),
		"p90_ms":    ms(e.P90),
		"p99_ms":    ms(e.P99),
		"max_ms":    ms(e.Max),
	}
	if e.Endpoint != "all" {
		m["last_error"] = e.LastError
		m["last_error_at"] = timeOrNull(e.LastErrorAt)
	}
	return m
}

func statusData(st *backend.Status) map[string]interface{} {
	r, q, w, s := st.Requests, st.Queue, st.WAL, st.Sessions
	eps := make(map[string]interface{}, len(st.Upstream.Endpoints))
	for _, e := range st.Upstream.Endpoints {
		eps[e.Endpoint] = endpointData(e)
	}
	return map[string]interface{}{
		"now": timeOrNull(st.Now),
		"requests": map[string]interface{}{
			"held":           r.Held,
			"leases":         r.Leases,
			"pending_claims": r.PendingClaims,
			"orphans":        r.Orphans,
			"pending":        r.Pending,
			"ended":          r.Ended,
			"by_role":        r.ByRole,
			"by_run_as":      r.ByRunAs,
			"oldest_since":   timeOrNull(r.OldestSince),
			"next_expiry":    timeOrNull(r.NextExpiry),
		},
		"checkin_queue": map[string]interface{}{
			"count":             q.Count,
			"oldest_request_id": q.OldestRequestID,
			"oldest_queued_at":  timeOrNull(q.OldestQueuedAt),
			"next_try":          timeOrNull(q.NextTry),
			"max_tries":         q.MaxTries,
			"last_error":        q.LastError,
		},
		"wal": map[string]interface{}{
			"unfinished":             w.Unfinished,
			"oldest":                 timeOrNull(w.Oldest),
			"rollback_after_seconds": int(w.RollbackAfter.Seconds()),
		},
		"sessions": map[string]interface{}{
			"cached":    s.Cached,
			"signed_in": s.SignedIn,
			"max":       s.Max,
			"by_run_as": s.ByRunAs,
		},
		"upstream": map[string]interface{}{
			"since":     timeOrNull(st.Upstream.Since),
			"total":     endpointData(st.Upstream.Total),
			"endpoints": eps,
		},
		"events": map[string]interface{}{
			"sent":    st.Events.Sent,
			"dropped": st.Events.Dropped,
			"failed":  st.Events.Failed,
		},
	}
}
