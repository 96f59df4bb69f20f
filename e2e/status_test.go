//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// TestStatusAndSystems reads status and systems/ in a real Vault: status
// through the plugin's gRPC boundary (nested maps, times, latencies), the
// operators' policy, and systems/ with its filters and paging.
func TestStatusAndSystems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.devVault()
	e.writeRole("pg", "system_name=db-prod-01", "account_name=postgres")
	e.writeRole("web", "system_name=web-01", "account_name=root", "run_as="+pstest.DemoUserAlice)
	pg := e.creds("", "pg")
	e.creds("", "web")

	var st struct {
		Data struct {
			Requests struct {
				Held    int            `json:"held"`
				Leases  int            `json:"leases"`
				ByRole  map[string]int `json:"by_role"`
				ByRunAs map[string]int `json:"by_run_as"`
			} `json:"requests"`
			Queue struct {
				Count int `json:"count"`
			} `json:"checkin_queue"`
			WAL struct {
				Unfinished int `json:"unfinished"`
			} `json:"wal"`
			Sessions struct {
				Cached  int            `json:"cached"`
				ByRunAs map[string]int `json:"by_run_as"`
			} `json:"sessions"`
			Upstream struct {
				Since     string `json:"since"`
				Total     map[string]any
				Endpoints map[string]map[string]any `json:"endpoints"`
			} `json:"upstream"`
			Events map[string]any `json:"events"`
		} `json:"data"`
	}
	v.mustJSON(&st, []string{"read"}, mount+"/status")
	d := st.Data
	if d.Requests.Held != 2 || d.Requests.Leases != 2 || d.Requests.ByRole["pg"] != 1 || d.Requests.ByRunAs[pstest.DemoUserAlice] != 1 {
		t.Errorf("requests: %+v", d.Requests)
	}
	if d.Queue.Count != 0 || d.WAL.Unfinished != 0 {
		t.Errorf("queue %+v, wal %+v", d.Queue, d.WAL)
	}
	if d.Sessions.Cached != 2 || d.Sessions.ByRunAs[pstest.DemoUserSvcVault] != 1 || d.Sessions.ByRunAs[pstest.DemoUserAlice] != 1 {
		t.Errorf("sessions: %+v", d.Sessions)
	}
	post := d.Upstream.Endpoints["POST Requests"]
	if d.Upstream.Since == "" || post == nil || post["calls"] != float64(2) || post["p50_ms"] == nil || d.Upstream.Total["calls"] == nil {
		t.Errorf("upstream: %+v", d.Upstream)
	}
	if d.Events == nil {
		t.Errorf("no events section")
	}
	// The text form an operator reads.
	if out := v.must("read", mount+"/status"); !strings.Contains(out, "checkin_queue") || !strings.Contains(out, "upstream") {
		t.Errorf("vault read status:\n%s", out)
	}
	_, err := v.cli("lease", "revoke", "-sync", pg.LeaseID)
	if err != nil {
		t.Fatal(err)
	}

	// Operators only: a token allowed creds but not status is refused.
	tok := e.limitedToken(v, mount+"/creds/*")
	if out, err := v.cliAs(tok, "read", mount+"/status"); err == nil || !strings.Contains(out+err.Error(), "permission denied") {
		t.Errorf("status without the policy: %v\n%s", err, out)
	}

	var sys struct {
		Data struct {
			Keys       []string                  `json:"keys"`
			KeyInfo    map[string]map[string]any `json:"key_info"`
			TotalCount *int                      `json:"total_count"`
		} `json:"data"`
	}
	if out := v.must("list", mount+"/systems"); !strings.Contains(out, "win-app-01") {
		t.Errorf("vault list systems:\n%s", out)
	}
	v.mustJSON(&sys, []string{"read"}, mount+"/systems")
	if len(sys.Data.Keys) != 44 || sys.Data.KeyInfo["db-prod-01"]["system_id"] != float64(1) || sys.Data.TotalCount != nil {
		t.Errorf("systems: %d keys, db-prod-01 %v", len(sys.Data.Keys), sys.Data.KeyInfo["db-prod-01"])
	}
	sys.Data.Keys, sys.Data.TotalCount = nil, nil
	v.mustJSON(&sys, []string{"read"}, mount+"/systems", "limit=2", "offset=2")
	if fmt.Sprint(sys.Data.Keys) != "[fin-db-01 win-app-01]" || sys.Data.TotalCount == nil || *sys.Data.TotalCount != 44 {
		t.Errorf("systems page: %v, total %v", sys.Data.Keys, sys.Data.TotalCount)
	}
	sys.Data.Keys = nil
	v.mustJSON(&sys, []string{"read"}, mount+"/systems", "name=web-01")
	if fmt.Sprint(sys.Data.Keys) != "[web-01]" {
		t.Errorf("systems by name: %v", sys.Data.Keys)
	}
	if out, err := v.cli("read", mount+"/systems", "type=mainframe"); err == nil {
		t.Errorf("type=mainframe accepted:\n%s", out)
	}
}
