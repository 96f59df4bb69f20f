package pstest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestManagedAccounts(t *testing.T) {
	s := newDemo(t)
	s.Edit().SetAccountAPIEnabled(22, false)
	u := signIn(t, s, "svc-vault")

	st, body := u.do(http.MethodGet, "ManagedAccounts?systemName=db-prod-01&accountName=postgres", nil)
	wantStatus(t, "single", st, body, 200, "")
	var one map[string]any
	if err := json.Unmarshal([]byte(body), &one); err != nil {
		t.Fatalf("single lookup is not one JSON object: %s", body)
	}
	for _, k := range []string{"PlatformID", "SystemId", "SystemName", "DomainName", "AccountId", "AccountName", "InstanceName", "UserPrincipalName", "ApplicationID", "ApplicationDisplayName", "DefaultReleaseDuration", "MaximumReleaseDuration", "LastChangeDate", "NextChangeDate", "IsChanging", "ChangeState", "IsISAAccess", "PreferredNodeID", "AccountDescription"} {
		if _, ok := one[k]; !ok {
			t.Errorf("ManagedAccount lacks %s", k)
		}
	}
	if one["SystemId"] != float64(1) || one["AccountId"] != float64(11) || one["MaximumReleaseDuration"] != float64(10080) {
		t.Errorf("single: %v", one)
	}

	// Names match case-insensitively; parameter names too.
	st, body = u.do(http.MethodGet, "ManagedAccounts?SYSTEMNAME=DB-PROD-01&accountname=Postgres", nil)
	wantStatus(t, "case-insensitive", st, body, 200, `"AccountId":11`)

	st, body = u.do(http.MethodGet, "ManagedAccounts?systemName=db-prod-01&accountName=nobody", nil)
	wantStatus(t, "single not found", st, body, 404, "")
	if body != `"Managed Account not found"` {
		t.Errorf("404 body %s", body)
	}
	st, body = u.do(http.MethodGet, "ManagedAccounts?systemName=web-01&accountName=deploy", nil)
	wantStatus(t, "API-disabled account", st, body, 404, "")

	list := func(q string) []map[string]any {
		t.Helper()
		st, body := u.do(http.MethodGet, "ManagedAccounts"+q, nil)
		wantStatus(t, "list "+q, st, body, 200, "")
		// The reference's shapes: {TotalCount, Data} when paging is
		// asked for, a bare array otherwise.
		paged := strings.Contains(q, "limit=") || strings.Contains(q, "offset=")
		var out []map[string]any
		if paged {
			var p struct {
				TotalCount *int
				Data       []map[string]any
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.TotalCount == nil || p.Data == nil {
				t.Fatalf("list %s is not {TotalCount, Data}: %s", q, body)
			}
			return p.Data
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("list %s is not an array: %s", q, body)
		}
		return out
	}
	if n := len(list("")); n != 45 { // 6 demo accounts + 40 load accounts - 1 disabled
		t.Errorf("all: %d accounts, want 45", n)
	}
	if got := list("?systemName=db-prod-01"); len(got) != 2 {
		t.Errorf("by system name: %v", got)
	}
	if got := list("?accountName=svc"); len(got) != 40 {
		t.Errorf("by account name: %d", len(got))
	}
	if got := list("?systemID=2"); len(got) != 1 || got[0]["AccountName"] != "root" {
		t.Errorf("by system ID: %v", got)
	}
	if got := list("?systemName=nope"); len(got) != 0 {
		t.Errorf("no match: %v", got)
	}
	st, body = u.do(http.MethodGet, "ManagedAccounts?limit=5&offset=3", nil)
	wantStatus(t, "page total", st, body, 200, `{"TotalCount":45,"Data":[`)
	page := list("?limit=5&offset=3")
	if len(page) != 5 || page[0]["AccountId"] != float64(31) { // 11, 12, 21, [31, 41, 1001, 1011, 1021]
		t.Errorf("page: %d items, first %v", len(page), page[0]["AccountId"])
	}
	if got := list("?type=domainlinked"); len(got) != 1 || got[0]["DomainName"] != "EXAMPLE" {
		t.Errorf("domainlinked: %v", got)
	}
	if got := list("?type=application"); len(got) != 1 || got[0]["ApplicationID"] != float64(501) || got[0]["ApplicationDisplayName"] != "Billing App" {
		t.Errorf("application: %v", got)
	}
	if got := list("?workgroupName=BeyondTrust%20Workgroup&offset=100"); len(got) != 0 {
		t.Errorf("offset past the end: %v", got)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?offset=-1", "?systemID=abc", "?type=weird"} {
		st, body := u.do(http.MethodGet, "ManagedAccounts"+q, nil)
		wantStatus(t, q, st, body, 400, "")
	}

	// bob (approver of 31) sees 31 only; the ISA user sees system 1.
	bob := signIn(t, s, "bob")
	st, body = bob.do(http.MethodGet, "ManagedAccounts", nil)
	wantStatus(t, "bob", st, body, 200, `"AccountId":31`)
	if strings.Count(body, "AccountId") != 1 {
		t.Errorf("bob sees %s", body)
	}
	isa := signIn(t, s, DemoUserISA)
	st, body = isa.do(http.MethodGet, "ManagedAccounts?systemName=db-prod-01&accountName=postgres", nil)
	wantStatus(t, "isa", st, body, 200, `"IsISAAccess":true`)

	// LastChangeDate follows rotation.
	id := u.mustCreate(1, 11, 5)
	s.Advance(time.Minute)
	u.put("Requests/"+itoa(id)+"/Checkin", nil)
	_, body = u.do(http.MethodGet, "ManagedAccounts?systemName=db-prod-01&accountName=postgres", nil)
	json.Unmarshal([]byte(body), &one)
	if got, _ := time.Parse(time.RFC3339, one["LastChangeDate"].(string)); !got.Equal(s.Now()) {
		t.Errorf("LastChangeDate %v, want %v", one["LastChangeDate"], s.Now())
	}
}

func TestAliases(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "svc-vault")

	st, body := u.do(http.MethodGet, "Aliases", nil)
	wantStatus(t, "list", st, body, 200, "")
	var list []map[string]any
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 3 {
		t.Fatalf("aliases: %s", body)
	}
	for _, k := range []string{"AliasId", "AliasName", "AliasState", "SystemId", "SystemName", "AccountId", "AccountName", "DomainName", "InstanceName", "DefaultReleaseDuration", "MaximumReleaseDuration", "LastChangeDate", "NextChangeDate", "IsChanging", "ChangeState", "MappedAccounts"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("alias lacks %s", k)
		}
	}
	ma := list[0]["MappedAccounts"].([]any)[0].(map[string]any)
	if ma["AliasID"] != float64(1) || ma["ManagedSystemID"] != float64(1) || ma["ManagedAccountID"] != float64(11) || ma["Status"] != float64(1) {
		t.Errorf("MappedAccounts: %v", ma)
	}

	for _, p := range []string{"Aliases/2", "Aliases?name=web-root", "Aliases?NAME=WEB-ROOT", "Aliases/web-root"} {
		st, body := u.do(http.MethodGet, p, nil)
		wantStatus(t, p, st, body, 200, `"AliasId":2`)
		if !strings.HasPrefix(body, "{") {
			t.Errorf("%s: not a single object: %s", p, body)
		}
	}
	for _, p := range []string{"Aliases/99", "Aliases?name=nope", "Aliases/nope"} {
		st, body := u.do(http.MethodGet, p, nil)
		wantStatus(t, p, st, body, 404, "")
	}
	if n := s.Inspect().Calls(EndpointAlias); n != 4 {
		t.Errorf("Calls(GET Aliases/{id}) = %d, want 4", n)
	}

	// Requests through an alias.
	st, body = u.do(http.MethodPost, "Aliases/1/Requests", map[string]any{"DurationMinutes": 10})
	wantStatus(t, "alias request", st, body, 201, "")
	rid := atoi(t, body)
	rs := mustState(t, s, rid)
	if rs.AliasID != 1 || rs.SystemID != 1 || rs.AccountID != 11 || rs.Status != StatusActive {
		t.Fatalf("alias request: %+v", rs)
	}
	st, body = u.do(http.MethodPost, "Aliases/1/Requests", map[string]any{"DurationMinutes": 10})
	wantStatus(t, "alias conflict", st, body, 409, "4091")
	st, body = u.do(http.MethodPost, "Aliases/1/Requests", map[string]any{"DurationMinutes": 10, "ConflictOption": "reuse"})
	wantStatus(t, "alias reuse", st, body, 200, itoa(rid))

	st, body = u.do(http.MethodGet, "Aliases/1/Credentials/"+itoa(rid), nil)
	wantStatus(t, "alias credential", st, body, 200, "")
	var cred map[string]any
	json.Unmarshal([]byte(body), &cred)
	if cred["Password"] != s.Inspect().Password(11) || cred["PrivateKey"] != "" || cred["Passphrase"] != "" || cred["AliasName"] != "prod-db-admin" || cred["SystemName"] != "db-prod-01" || cred["AccountName"] != "postgres" || cred["AliasID"] != float64(1) {
		t.Errorf("alias credential: %v", cred)
	}
	st, body = u.do(http.MethodGet, "Aliases/2/Credentials/"+itoa(rid), nil)
	wantStatus(t, "request of another alias's account", st, body, 404, "")
	st, body = u.do(http.MethodGet, "Aliases/99/Credentials/"+itoa(rid), nil)
	wantStatus(t, "unknown alias", st, body, 404, "")

	// web-root: the DSS key through the alias, only PrivateKey filled.
	st, body = u.do(http.MethodPost, "Aliases/2/Requests", map[string]any{"DurationMinutes": 10, "AccessType": "SSH"})
	wantStatus(t, "web-root", st, body, 201, "")
	wid := atoi(t, body)
	for typ, field := range map[string]string{"dsskey": "PrivateKey", "passphrase": "Passphrase", "password": "Password"} {
		st, body = u.do(http.MethodGet, "Aliases/2/Credentials/"+itoa(wid)+"?type="+typ, nil)
		wantStatus(t, "alias "+typ, st, body, 200, "")
		cred = map[string]any{}
		json.Unmarshal([]byte(body), &cred)
		for _, f := range []string{"Password", "PrivateKey", "Passphrase"} {
			if (f == field) != (cred[f] != "") {
				t.Errorf("type=%s: %s = %q", typ, f, cred[f])
			}
		}
	}

	// fin-sa (state 2) can be requested and ends pending (approval policy).
	st, body = u.do(http.MethodPost, "Aliases/3/Requests", map[string]any{"DurationMinutes": 10})
	wantStatus(t, "state 2 alias", st, body, 201, "")
	pid := atoi(t, body)
	st, body = u.do(http.MethodGet, "Aliases/3/Credentials/"+itoa(pid), nil)
	wantStatus(t, "pending alias credential", st, body, 403, "4034")

	for _, state := range []int{0, 3} {
		s.Edit().SetAliasState(1, state)
		st, body = signIn(t, s, "alice").do(http.MethodPost, "Aliases/1/Requests", map[string]any{"DurationMinutes": 10})
		wantStatus(t, "alias state "+itoa(state), st, body, 403, "4031")
	}
	for name, in := range map[string]any{
		"App access":       map[string]any{"DurationMinutes": 10, "AccessType": "App"},
		"missing duration": map[string]any{"Reason": "x"},
	} {
		st, body = u.do(http.MethodPost, "Aliases/2/Requests", in)
		wantStatus(t, name, st, body, 400, "")
	}
	st, body = u.do(http.MethodPost, "Aliases/99/Requests", map[string]any{"DurationMinutes": 10})
	wantStatus(t, "unknown alias", st, body, 404, "")
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatalf("%q is not a JSON integer", s)
	}
	return n
}

func TestCredentialTypes(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "alice")
	carol := signIn(t, s, "carol")
	w := DemoWorld()

	root := u.mustCreate(2, 21, 10)
	deploy := u.mustCreate(2, 22, 10)
	pg := u.mustCreate(1, 11, 10)
	cases := []struct {
		name string
		id   int
		typ  string
		want int
		val  string
	}{
		{"password default", root, "", 200, s.Inspect().Password(21)},
		{"password", root, "password", 200, s.Inspect().Password(21)},
		{"PASSWORD", root, "PASSWORD", 200, s.Inspect().Password(21)},
		{"encrypted key", root, "dsskey", 200, w.Systems[1].Accounts[0].PrivateKey},
		{"passphrase", root, "passphrase", 200, DemoPassphrase21},
		{"unencrypted key", deploy, "dsskey", 200, w.Systems[1].Accounts[1].PrivateKey},
		{"passphrase of unencrypted key", deploy, "passphrase", 400, ""},
		{"key of account without key", pg, "dsskey", 400, ""},
		{"passphrase of account without key", pg, "passphrase", 400, ""},
		{"bad type", pg, "pin", 400, ""},
		{"unknown request", 77777, "", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, v := u.credential(tc.id, tc.typ)
			if st != tc.want || (tc.want == 200 && v != tc.val) {
				t.Fatalf("%d %q, want %d %q", st, v, tc.want, tc.val)
			}
		})
	}
	if !strings.Contains(w.Systems[1].Accounts[0].PrivateKey, "ENCRYPTED") || strings.Contains(w.Systems[1].Accounts[1].PrivateKey, "ENCRYPTED") {
		t.Error("demo keys: 21 should be encrypted, 22 not")
	}
	st, body := carol.credential(pg, "")
	wantStatus(t, "another user's request", st, body, 403, "4031")
	// Rotation changes passwords only; keys stay.
	u.put("Requests/"+itoa(root)+"/Checkin", nil)
	root2 := u.mustCreate(2, 21, 10)
	if _, v := u.credential(root2, "dsskey"); v != w.Systems[1].Accounts[0].PrivateKey {
		t.Error("the DSS key changed with a rotation")
	}
}

func TestISARequests(t *testing.T) {
	s := newDemo(t)
	isa := signIn(t, s, DemoUserISA)
	st, body := isa.do(http.MethodPost, "ISARequests?type=password", map[string]any{"SystemID": 1, "AccountID": 11, "DurationMinutes": 5, "Reason": "incident"})
	wantStatus(t, "ISA", st, body, 201, "")
	var out map[string]string
	if err := json.Unmarshal([]byte(body), &out); err != nil || out["Credentials"] != s.Inspect().Password(11) {
		t.Fatalf("ISA answer %s", body)
	}
	act := s.Inspect().ActiveRequests()
	if len(act) != 1 || act[0].UserName != DemoUserISA || act[0].AccessType != "View" || act[0].DurationMinutes != 5 {
		t.Fatalf("ISA request: %+v", act)
	}
	st, body = isa.do(http.MethodPost, "ISARequests", map[string]any{"SystemID": 1, "AccountID": 11})
	wantStatus(t, "ISA again (reuses the active request)", st, body, 201, "Credentials")
	if n := len(s.Inspect().Requests()); n != 1 {
		t.Fatalf("%d requests after two ISA calls", n)
	}
	for name, c := range map[string]struct {
		user *psUser
		q    string
		body any
		want int
	}{
		"other system":     {isa, "", map[string]any{"SystemID": 2, "AccountID": 21}, 403},
		"requestor":        {signIn(t, s, "alice"), "", map[string]any{"SystemID": 1, "AccountID": 11}, 403},
		"bad type":         {isa, "?type=x", map[string]any{"SystemID": 1, "AccountID": 11}, 400},
		"no key":           {isa, "?type=dsskey", map[string]any{"SystemID": 1, "AccountID": 12}, 400},
		"above max":        {isa, "", map[string]any{"SystemID": 1, "AccountID": 12, "DurationMinutes": 10081}, 400},
		"missing account":  {isa, "", map[string]any{"SystemID": 1}, 400},
		"wrong system":     {isa, "", map[string]any{"SystemID": 1, "AccountID": 21}, 403},
		"unknown account":  {isa, "", map[string]any{"SystemID": 1, "AccountID": 99}, 403},
		"malformed body":   {isa, "", "{", 400},
		"approver-only ok": {signIn(t, s, "bob"), "", map[string]any{"SystemID": 1, "AccountID": 11}, 403},
	} {
		st, body := c.user.do(http.MethodPost, "ISARequests"+c.q, c.body)
		wantStatus(t, name, st, body, c.want, "")
	}
}

func TestManagedSystems(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "svc-vault")
	st, body := u.do(http.MethodGet, "ManagedSystems", nil)
	wantStatus(t, "all", st, body, 200, "")
	var all []map[string]any
	if err := json.Unmarshal([]byte(body), &all); err != nil {
		t.Fatalf("without paging, not a bare array: %s", body)
	}
	if len(all) != 44 { // 4 demo systems + 40 load systems
		t.Fatalf("%d systems, want 44", len(all))
	}
	for _, k := range []string{"ManagedSystemID", "EntityTypeID", "AssetID", "DatabaseID", "DirectoryID", "CloudID", "WorkgroupID",
		"HostName", "DnsName", "IPAddress", "SystemName", "PlatformID", "NetBiosName", "Port", "Timeout", "Description",
		"ContactEmail", "ReleaseDuration", "MaxReleaseDuration", "ISAReleaseDuration", "AutoManagementFlag", "FunctionalAccountID"} {
		if _, ok := all[0][k]; !ok {
			t.Errorf("ManagedSystem lacks %s", k)
		}
	}
	if all[0]["ManagedSystemID"] != float64(1) || all[0]["SystemName"] != "db-prod-01" || all[0]["EntityTypeID"] != float64(1) {
		t.Errorf("first system %v", all[0])
	}
	for _, tc := range []struct {
		q, want string
		n       int
	}{
		{"?limit=3&offset=2", `{"TotalCount":44,"Data":[{"ManagedSystemID":3,`, 3},
		{"?offset=43", `{"TotalCount":44,"Data":[{"ManagedSystemID":139,`, 1},
		{"?limit=10&offset=50", `{"TotalCount":44,"Data":[]}`, 0},
		{"?name=WIN-APP-01&limit=5", `{"TotalCount":1,"Data":[{"ManagedSystemID":4,`, 1},
		{"?type=1&limit=1", `{"TotalCount":44,`, 1},
		{"?type=2&limit=1", `{"TotalCount":0,"Data":[]}`, 0},
	} {
		st, body := u.do(http.MethodGet, "ManagedSystems"+tc.q, nil)
		wantStatus(t, tc.q, st, body, 200, tc.want)
		var p struct{ Data []map[string]any }
		if err := json.Unmarshal([]byte(body), &p); err != nil || len(p.Data) != tc.n {
			t.Errorf("%s: %d items, want %d (%v)", tc.q, len(p.Data), tc.n, err)
		}
	}
	st, body = u.do(http.MethodGet, "ManagedSystems?name=win-app-01", nil)
	wantStatus(t, "by name, bare", st, body, 200, `[{"ManagedSystemID":4,`)
	if !strings.Contains(body, `"NetBiosName":"EXAMPLE"`) {
		t.Errorf("domain system: %s", body)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?offset=-1", "?type=5", "?type=x"} {
		st, body := u.do(http.MethodGet, "ManagedSystems"+q, nil)
		wantStatus(t, q, st, body, 400, "")
	}
	st, body = u.do(http.MethodPost, "ManagedSystems", nil)
	wantStatus(t, "POST", st, body, 405, "")
	if n := s.Inspect().Calls(EndpointManagedSystems); n < 10 {
		t.Errorf("counted %d calls", n)
	}
}
