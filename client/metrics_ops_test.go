package client

import (
	"os"
	"regexp"
	"testing"
)

// Every operation the client names (the op constants of session.go) has
// its own row in the metrics table: none is counted as "other". The list
// is read from the source, not from the table it checks.
func TestMetricsCoverEveryOperation(t *testing.T) {
	src, err := os.ReadFile("session.go")
	if err != nil {
		t.Fatal(err)
	}
	ops := regexp.MustCompile(`(?m)^\s+op\w+\s+= "([^"]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(ops) < 10 {
		t.Fatalf("found only %d operations in session.go", len(ops))
	}
	for _, m := range ops {
		if _, ok := endpointIndex[m[1]]; !ok {
			t.Errorf("operation %q has no row in the metrics table", m[1])
		}
	}
}
