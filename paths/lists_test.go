package paths

import "testing"

// Every item listed keeps its key_info: a key made unique with "#" and the
// ID must not land on a key already listed (an item whose name ends the
// same way, or the same item twice).
func TestKeyedListKeysAreUnique(t *testing.T) {
	l := newKeyedList(0)
	items := []struct{ key, id string }{
		{"x", "1"},
		{"x#5", "2"}, // a name that looks like a made-up key
		{"x", "5"},   // would become x#5
		{"x", "5"},   // the same item again
		{"x#5#2", "3"},
		{"x", "5"},
		{"", "7"},
		{"", "7"},
	}
	for i, it := range items {
		l.add(it.key, it.id, map[string]interface{}{"n": i})
	}
	if len(l.keys) != len(items) || len(l.info) != len(items) {
		t.Fatalf("%d items listed under %d keys with %d key_info: %q", len(items), len(l.keys), len(l.info), l.keys)
	}
	for i, k := range l.keys {
		if got := l.info[k].(map[string]interface{})["n"]; got != i {
			t.Errorf("key %q shows item %v, want %d", k, got, i)
		}
	}
}
