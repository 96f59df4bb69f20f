//go:build e2e

package e2e

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The API surface (README "Paths"), with path parameters written {}.
var wantPaths = []struct {
	path string // OpenAPI form under the mount
	help string // a concrete path for `vault path-help`
}{
	{"config", "config"},
	{"roles/", "roles/"},
	{"roles/{}", "roles/db"},
	{"roles/{}/rotate", "roles/db/rotate"},
	{"creds/{}", "creds/db"},
	{"requests/", "requests/"},
	{"requests/{}", "requests/1"},
	{"requests/{}/creds", "requests/1/creds"},
	{"requests/{}/approve", "requests/1/approve"},
	{"requests/{}/deny", "requests/1/deny"},
	{"requests/{}/checkin", "requests/1/checkin"},
	{"requests/{}/rotate-on-checkin", "requests/1/rotate-on-checkin"},
	{"aliases/", "aliases/"},
	{"aliases/{}", "aliases/prod-db-admin"},
	{"accounts/", "accounts/"},
	{"systems/", "systems/"},
	{"status", "status"},
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// TestPathHelpAndOpenAPI: every path answers `vault path-help` with real help,
// and Vault's OpenAPI document lists every path with a description and
// display attributes.
func TestPathHelpAndOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := e.devVault()

	root := v.must("path-help", mount+"/")
	for _, p := range wantPaths {
		out, err := v.cli("path-help", mount+"/"+p.help)
		if err != nil {
			t.Errorf("path-help %s: %v", p.help, err)
			continue
		}
		desc := ""
		if _, after, ok := strings.Cut(out, "## DESCRIPTION"); ok {
			desc = strings.TrimSpace(after)
		}
		if !strings.Contains(out, "Request:") || len(desc) < 20 {
			t.Errorf("path-help %s: thin help:\n%s", p.help, out)
		}
		// The mount's own help lists each path's pattern.
		first := strings.SplitN(p.path, "/", 2)[0]
		if !strings.Contains(root, first) {
			t.Errorf("path-help %s/ does not list %s", mount, p.path)
		}
	}

	var doc struct {
		Data struct {
			Paths map[string]map[string]any `json:"paths"`
		} `json:"data"`
	}
	v.mustJSON(&doc, []string{"read"}, "sys/internal/specs/openapi")
	have := map[string]map[string]any{}
	for p, item := range doc.Data.Paths {
		if rest, ok := strings.CutPrefix(p, "/"+mount+"/"); ok {
			have[pathParam.ReplaceAllString(rest, "{}")] = item
		}
	}
	var got []string
	for p := range have {
		got = append(got, p)
	}
	sort.Strings(got)
	opIDs := map[string]string{}
	for _, p := range wantPaths {
		item, ok := have[p.path]
		if !ok {
			t.Errorf("OpenAPI lacks %s (has %v)", p.path, got)
			continue
		}
		if d, _ := item["description"].(string); d == "" {
			t.Errorf("OpenAPI %s: no description", p.path)
		}
		ops := 0
		for _, verb := range []string{"get", "post", "delete"} {
			op, ok := item[verb].(map[string]any)
			if !ok {
				continue
			}
			ops++
			// Operation IDs come from the paths' display attributes
			// (OperationPrefix/Verb/Suffix); without them Vault makes up
			// names from the path.
			id, _ := op["operationId"].(string)
			if id == "" || opIDs[id] != "" {
				t.Errorf("OpenAPI %s %s: operationId %q missing or not unique (also %s)", verb, p.path, id, opIDs[id])
			}
			opIDs[id] = verb + " " + p.path
			if s, _ := op["summary"].(string); s == "" {
				t.Errorf("OpenAPI %s %s: no summary", verb, p.path)
			}
		}
		if ops == 0 {
			t.Errorf("OpenAPI %s: no operations", p.path)
		}
	}
}
