package md

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// Quadratic references: the definitions the linear versions replace.

func minimalRef(domains []string) []string {
	var out []string
	for _, d := range domains {
		covered := false
		for _, p := range domains {
			if p != d && IsWildcard(p) && DomainMatches(p, d) {
				covered = true
			}
		}
		if !covered {
			out = append(out, d)
		}
	}
	return out
}

func containsRef(list []string, name string) bool {
	for _, p := range list {
		if DomainMatches(p, name) {
			return true
		}
	}
	return false
}

// randomNames draws from a small alphabet so that duplicates, wildcards
// and covered names are common.
func randomNames(rng *rand.Rand, n int) []string {
	labels := []string{"a", "b", "www", "*"}
	parents := []string{"x.org", "y.org", "a.x.org"}
	out := make([]string, n)
	for i := range out {
		out[i] = labels[rng.Intn(len(labels))] + "." + parents[rng.Intn(len(parents))]
		if rng.Intn(5) == 0 {
			out[i] = parents[rng.Intn(len(parents))]
		}
	}
	return out
}

// TestDomainSetMatchesReference: the map-based DomainSet and
// MinimalDomains give exactly what the scans they replace gave.
func TestDomainSetMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 500; i++ {
		names := randomNames(rng, 1+rng.Intn(12))
		var ref []string
		set := NewDomainSet()
		for _, n := range names {
			ref = AddDomain(ref, n)
			set.Add(n)
		}
		if !slices.Equal(set.Names(), ref) {
			t.Fatalf("DomainSet(%q) = %q; want %q", names, set.Names(), ref)
		}
		if got, want := MinimalDomains(ref), minimalRef(ref); !slices.Equal(got, want) {
			t.Fatalf("MinimalDomains(%q) = %q; want %q", ref, got, want)
		}
		for _, q := range randomNames(rng, 5) {
			q = strings.ToUpper(q[:1]) + q[1:]
			if got, want := set.Covers(q), containsRef(ref, q); got != want {
				t.Fatalf("Covers(%q) in %q = %v; want %v", q, ref, got, want)
			}
		}
	}
}

// BenchmarkDomainSet200k: adding 200,000 names one by one (md.toml's
// domains, Apache's MDMembers) and making them minimal. With the earlier
// scans this took 76 s; it is linear now.
func BenchmarkDomainSet200k(b *testing.B) {
	names := make([]string, 200000)
	for i := range names {
		names[i] = fmt.Sprintf("n%d.example.org", i)
	}
	names[7] = "*.example.org"
	for b.Loop() {
		s := NewDomainSet()
		for _, n := range names {
			s.Add(n)
		}
		if len(MinimalDomains(s.Names())) != 1 {
			b.Fatal("want the wildcard to cover every other name")
		}
	}
}
