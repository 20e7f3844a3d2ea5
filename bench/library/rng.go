// Package library generates deterministic fake ROM libraries for benchmarks and tests.
package library

import (
	"encoding/binary"
	"math/bits"
)

// rng is a small deterministic pseudo-random generator (xorshift64*). It is
// not cryptographic: it only has to be fast and identical on every platform
// and Go release, which math/rand does not promise for all of its helpers.
type rng struct {
	s uint64
}

// mix is the splitmix64 finalizer; it turns related inputs (seed, index)
// into unrelated, never-zero-for-long states.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// derive combines a seed with labels into a new seed.
func derive(seed uint64, labels ...uint64) uint64 {
	s := mix(seed)
	for _, l := range labels {
		s = mix(s ^ mix(l+0x632be59bd9b4e019))
	}
	return s
}

// label turns a short string into a number for derive.
func label(s string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func newRNG(seed uint64) *rng {
	s := mix(seed)
	if s == 0 {
		s = 0x9e3779b97f4a7c15
	}
	return &rng{s: s}
}

func (r *rng) next() uint64 {
	x := r.s
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	r.s = x
	return x * 0x2545f4914f6cdd1d
}

// intn returns a number in [0, n); n must be positive.
func (r *rng) intn(n int) int {
	return int(r.uint64n(uint64(n)))
}

// uint64n returns a number in [0, n) without modulo bias worth caring about
// (multiply-high reduction); n must be positive.
func (r *rng) uint64n(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int64) int64 {
	return lo + int64(r.uint64n(uint64(hi-lo+1)))
}

// chance reports true with probability pct/100.
func (r *rng) chance(pct int) bool {
	return r.intn(100) < pct
}

func pick[T any](r *rng, xs []T) T {
	return xs[r.intn(len(xs))]
}

// fill writes the content stream of state into buf and advances state. The
// stream is the same whatever the buffer sizes used to consume it, as long
// as every buffer but the last has a length that is a multiple of 8.
func fill(buf []byte, state *uint64) {
	x := *state
	i := 0
	for ; i+8 <= len(buf); i += 8 {
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		binary.LittleEndian.PutUint64(buf[i:], x*0x2545f4914f6cdd1d)
	}
	if i < len(buf) {
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		v := x * 0x2545f4914f6cdd1d
		for ; i < len(buf); i++ {
			buf[i] = byte(v)
			v >>= 8
		}
	}
	*state = x
}
