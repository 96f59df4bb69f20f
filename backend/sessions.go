package backend

import (
	"container/list"
	"context"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// defaultMaxSessions bounds the signed-in sessions kept per backend (one per
// run-as user); the least recently used one is signed out beyond it.
const defaultMaxSessions = 64

// signOutTimeout bounds how long the backend waits for each dropped session
// to finish its calls and sign out.
const signOutTimeout = 5 * time.Second

// sessions caches one *client.Client (one signed-in Password Safe session)
// per run-as user of the current config generation. All of them share one
// Limiter so the whole backend keeps max_concurrent_requests toward the
// upstream. A config change (reset) drops and signs out all of them.
//
// A dropped client (evicted, reset away, or built for a stale generation)
// may still be in use by a caller that got it from get just before, so it
// is never signed out under that caller: it is retired (client.Retire),
// which signs it out as soon as its last call in flight has returned, and
// signs out again any session a later call on it makes. Without that the
// caller's next call would get a 401, sign in again and leave that session
// open upstream.
type sessions struct {
	log func() hclog.Logger
	max int

	mu       sync.Mutex
	gen      uint64
	ll       *list.List // of *session, front = most recently used
	byKey    map[string]*list.Element
	limiter  *client.Limiter
	limiterN int
	// staged is the limiter for a config being verified; reset installs it
	// so the verifying client, adopted as a session, shares the new limiter.
	staged  *client.Limiter
	stagedN int
	bg      sync.WaitGroup // background retirements of evicted sessions
}

type session struct {
	key string
	c   *client.Client
}

func newSessions(log func() hclog.Logger, max int) *sessions {
	return &sessions{log: log, max: max, ll: list.New(), byKey: map[string]*list.Element{}}
}

// generation is the config generation sessions are built for now.
func (s *sessions) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// get returns the session for key, building it with build (given the shared
// limiter for maxConcurrent) when there is none. gen must be the generation
// the caller read its config under; a stale caller gets an unshared client
// rather than polluting the new generation's cache, retired from the start
// so each of its calls leaves no session behind.
func (s *sessions) get(gen uint64, key string, maxConcurrent int, build func(*client.Limiter) (*client.Client, error)) (*client.Client, error) {
	s.mu.Lock()
	if gen != s.gen {
		s.mu.Unlock()
		c, err := build(client.NewLimiter(maxConcurrent))
		if err != nil {
			return nil, err
		}
		s.retire(context.Background(), c) // not signed in yet: returns at once
		return c, nil
	}
	if el, ok := s.byKey[key]; ok {
		s.ll.MoveToFront(el)
		c := el.Value.(*session).c
		s.mu.Unlock()
		return c, nil
	}
	c, err := build(s.limiterLocked(maxConcurrent))
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	evicted := s.addLocked(key, c)
	s.mu.Unlock()
	s.retireBackground(evicted)
	return c, nil
}

func (s *sessions) limiterLocked(n int) *client.Limiter {
	if s.limiter == nil || s.limiterN != n {
		s.limiter, s.limiterN = client.NewLimiter(n), n
	}
	return s.limiter
}

// stage returns a fresh limiter of size n for a client that verifies a new
// config; the next reset makes it the shared limiter.
func (s *sessions) stage(n int) *client.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staged, s.stagedN = client.NewLimiter(n), n
	return s.staged
}

// put adopts an already signed-in client as the session of key (used after
// a config write verified the config by signing in). A client it refuses
// (stale generation) is signed out.
func (s *sessions) put(gen uint64, key string, c *client.Client) bool {
	s.mu.Lock()
	if gen != s.gen {
		s.mu.Unlock()
		s.retireBackground([]*client.Client{c})
		return false
	}
	var evicted []*client.Client
	if el, ok := s.byKey[key]; ok {
		evicted = append(evicted, el.Value.(*session).c)
		s.ll.Remove(el)
		delete(s.byKey, key)
	}
	evicted = append(evicted, s.addLocked(key, c)...)
	s.mu.Unlock()
	s.retireBackground(evicted)
	return true
}

func (s *sessions) addLocked(key string, c *client.Client) []*client.Client {
	s.byKey[key] = s.ll.PushFront(&session{key: key, c: c})
	var evicted []*client.Client
	for s.max > 0 && s.ll.Len() > s.max {
		el := s.ll.Back()
		sess := el.Value.(*session)
		s.ll.Remove(el)
		delete(s.byKey, sess.key)
		evicted = append(evicted, sess.c)
	}
	return evicted
}

// len is the number of cached sessions.
func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ll.Len()
}

// reset drops every session (a new generation begins) and retires them,
// waiting at most signOutTimeout for each to finish its calls in flight and
// sign out; also waits for background retirements so Clean leaves nothing
// running. A call still in flight after that signs its session out itself
// when it returns.
func (s *sessions) reset(ctx context.Context) {
	s.mu.Lock()
	s.gen++
	var old []*client.Client
	for el := s.ll.Front(); el != nil; el = el.Next() {
		old = append(old, el.Value.(*session).c)
	}
	s.ll.Init()
	s.byKey = map[string]*list.Element{}
	s.limiter, s.limiterN = s.staged, s.stagedN
	s.staged, s.stagedN = nil, 0
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range old {
		wg.Add(1)
		go func(c *client.Client) {
			defer wg.Done()
			s.retire(ctx, c)
		}(c)
	}
	wg.Wait()
	s.bg.Wait()
}

func (s *sessions) retireBackground(cs []*client.Client) {
	for _, c := range cs {
		s.bg.Add(1)
		go func(c *client.Client) {
			defer s.bg.Done()
			s.retire(context.Background(), c)
		}(c)
	}
}

// retire retires a dropped client, waiting at most signOutTimeout for its
// calls in flight to end and its session to be signed out.
func (s *sessions) retire(ctx context.Context, c *client.Client) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), signOutTimeout)
	defer cancel()
	switch err := c.Retire(ctx); {
	case err == nil:
	case err == ctx.Err(): // Retire's documented "still in use" answer
		s.log().Debug("a dropped Password Safe session is still in use; its last call signs it out")
	default:
		s.log().Warn("could not sign out of Password Safe", "error", err)
	}
}
