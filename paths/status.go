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
What this mount holds in Password Safe (from storage) and how its calls to
Password Safe fare (counted in memory from the plugin's start or the
mount's reload). Vault does not scrape an external plugin's metrics, so
this is where operators look. It never shows a secret.

  now        the engine's clock when read
  requests   held: requests the mount has a record of; by_role, by_run_as:
             them per role and per run-as user; leases: holds that are
             leases; pending_claims: callers waiting for approval or to claim
             (requests/<id>/creds); orphans: holds a failed checkout left, to
             be checked in once approved; pending: requests with either;
             ended: requests ended other than by the mount's own check-in (an
             operator's check-in, a renewal's new request, gone from Password
             Safe) whose leases remain; oldest_since: the earliest start of a
             hold on a request marked pending (holds elsewhere are not read);
             next_expiry: the earliest recorded expiry, past ones included
  checkin_queue
             check-ins Password Safe did not take yet: count, the longest
             queued (oldest_request_id, oldest_queued_at), the soonest
             next_try, the most tries of one (max_tries), and last_error, the
             error of the entry whose next try is latest (the one tried last)
  wal        unfinished: WAL entries, checkouts running or interrupted;
             oldest: when the oldest began; rollback_after_seconds: the age
             at which rollback finishes one
  sessions   cached: upstream sessions in the cache; signed_in: of them,
             those signed in; max: the cache's size (past it the least
             recently used is signed out); by_run_as: cached per run-as user,
             "(oauth)" for an OAuth config's one
  upstream   since: when counting began; total, and per endpoint
             (endpoints): calls (a retried call once), failed (no 2xx,
             expected 404s included) of which http_4xx, http_5xx and
             transport (no answer), retries, and of whole calls with their
             retries mean_ms, p50_ms, p90_ms, p99_ms, max_ms (percentiles
             estimated from a histogram); per endpoint last_error and
             last_error_at
  events     Vault events sent, dropped (queue full) and failed (Vault
             refused them, or events are off)

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
							"requests":      obj("Requests recorded (held, by_role, by_run_as), holds (leases, pending_claims, orphans), requests with pending holds (pending), ended upstream (ended), the earliest hold on a pending request (oldest_since) and the earliest recorded expiry (next_expiry)."),
							"checkin_queue": obj("Queued check-ins: count, the longest queued (oldest_request_id, oldest_queued_at), the soonest next_try, max_tries, last_error (of the entry tried last)."),
							"wal":           obj("WAL entries of checkouts running or interrupted: unfinished, oldest, rollback_after_seconds."),
							"sessions":      obj("Upstream sessions: cached, signed_in, max, by_run_as."),
							"upstream":      obj("Calls to Password Safe since the plugin's start or the mount's reload (since): total, endpoints (per endpoint: calls, failed, http_4xx, http_5xx, transport, retries, mean_ms, p50_ms, p90_ms, p99_ms, max_ms of whole calls, last_error, last_error_at)."),
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
