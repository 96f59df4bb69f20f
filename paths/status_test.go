package paths

import (
	"regexp"
	"testing"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Every field status answers is named in its help, so an operator can look
// up what a number counts.
func TestStatusHelpNamesEveryField(t *testing.T) {
	st := &backend.Status{Upstream: client.MetricsSnapshot{
		Endpoints: []client.EndpointStats{{Endpoint: "POST Requests"}},
		Total:     client.EndpointStats{Endpoint: "all"},
	}}
	named := func(k string) bool {
		return regexp.MustCompile(`\b` + regexp.QuoteMeta(k) + `\b`).MatchString(statusHelpDescription)
	}
	for group, v := range statusData(st) {
		if !named(group) {
			t.Errorf("help does not name %q", group)
		}
		m, ok := v.(map[string]interface{})
		if !ok {
			continue
		}
		for k, v := range m {
			if !named(k) {
				t.Errorf("help does not name %s.%s", group, k)
			}
			if k != "endpoints" {
				continue
			}
			for _, e := range v.(map[string]interface{}) {
				for k := range e.(map[string]interface{}) {
					if !named(k) {
						t.Errorf("help does not name the endpoint field %q", k)
					}
				}
			}
		}
	}
	// oldest_since is read only from requests marked pending: the help
	// must not promise the oldest of every hold.
	if regexp.MustCompile(`(?i)the oldest holder`).MatchString(statusHelpDescription) {
		t.Error("help calls oldest_since the oldest holder")
	}
}
