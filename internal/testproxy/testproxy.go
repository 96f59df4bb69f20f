// Package testproxy is a small HTTP CONNECT forward proxy for tests: it
// listens on loopback, optionally demands basic proxy authentication,
// counts the tunnels it opens and the requests it refuses, and can send
// every tunnel to one address whatever host the client names (so a test can
// reach a loopback server under a made-up host name, which proxy settings
// from the environment do not exempt the way they exempt loopback).
package testproxy

import (
	"bufio"
	"crypto/subtle"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Proxy.
type Options struct {
	// Username and Password, when Username is set, are the credentials
	// every CONNECT must carry (Proxy-Authorization: Basic); otherwise 407.
	Username, Password string
	// Target, when set, is the host:port every tunnel is dialled to,
	// whatever the CONNECT asked for.
	Target string
}

// Proxy is a running CONNECT proxy. Close it when done.
type Proxy struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port

	opts    Options
	srv     *http.Server
	tunnels atomic.Int64
	refused atomic.Int64

	mu    sync.Mutex
	hosts []string
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Start starts a proxy on 127.0.0.1 (a free port).
func Start(o Options) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), opts: o, conns: map[net.Conn]struct{}{}}
	p.URL = "http://" + p.Addr
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Tunnels is how many CONNECT tunnels the proxy opened.
func (p *Proxy) Tunnels() int { return int(p.tunnels.Load()) }

// Refused is how many CONNECTs it answered 407.
func (p *Proxy) Refused() int { return int(p.refused.Load()) }

// Hosts are the host:port the CONNECTs named, in order.
func (p *Proxy) Hosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...)
}

// Close stops the proxy and cuts every open tunnel.
func (p *Proxy) Close() {
	_ = p.srv.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "testproxy: only CONNECT", http.StatusMethodNotAllowed)
		return
	}
	if p.opts.Username != "" {
		u, pw, ok := (&http.Request{Header: http.Header{"Authorization": r.Header.Values("Proxy-Authorization")}}).BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(p.opts.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pw), []byte(p.opts.Password)) != 1 {
			p.refused.Add(1)
			w.Header().Set("Proxy-Authenticate", `Basic realm="testproxy"`)
			http.Error(w, "testproxy: proxy authentication required", http.StatusProxyAuthRequired)
			return
		}
	}
	p.mu.Lock()
	p.hosts = append(p.hosts, r.Host)
	p.mu.Unlock()
	target := r.Host
	if p.opts.Target != "" {
		target = p.opts.Target
	}
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		http.Error(w, "testproxy: cannot reach the target", http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		_ = up.Close()
		http.Error(w, "testproxy: cannot hijack", http.StatusInternalServerError)
		return
	}
	down, rw, err := hj.Hijack()
	if err != nil {
		_ = up.Close()
		return
	}
	if _, err := down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = up.Close()
		_ = down.Close()
		return
	}
	p.tunnels.Add(1)
	if !p.track(up, down) {
		return
	}
	p.wg.Add(2)
	go p.pipe(up, rw.Reader, down)
	go p.pipe(down, up, up)
}

// track registers a tunnel's connections; false (both closed) when the
// proxy is closing.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies src (read through r, which may hold buffered bytes) to dst,
// then closes both ends of the tunnel.
func (p *Proxy) pipe(dst net.Conn, r io.Reader, src net.Conn) {
	defer p.wg.Done()
	if br, ok := r.(*bufio.Reader); ok && br.Buffered() == 0 {
		r = src
	}
	_, _ = io.Copy(dst, r)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
