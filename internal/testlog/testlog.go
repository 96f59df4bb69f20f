// Package testlog holds what tests of several packages share for capturing
// logs, so each can check that no secret was written. It is test
// infrastructure: it must not be imported by the plugin itself.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is a log sink safe for concurrent writers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
