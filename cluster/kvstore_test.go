package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/etl-toolkit/etl/cluster/natstest"
	"github.com/etl-toolkit/etl/core"
)

func openTestStore(t *testing.T) *KVStore {
	t.Helper()
	ctx := context.Background()
	st, err := Dial(ctx, natstest.Start(t), KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestKVKeysRoundTrip(t *testing.T) {
	for _, key := range []string{
		"azumio-nightly/unit/user:42/steps",
		"p/pending/2026-11-22T05:00:00Z",
		"a//b/", "/", "x", "dots.and..more.", "=41", "*>", "naïve/ünït", "p/unit/a b\tc",
	} {
		k := kvKey(key)
		for i := 0; i < len(k); i++ {
			if c := k[i]; !plainByte(c) && c != '=' && c != '.' {
				t.Errorf("kvKey(%q) = %q: byte %q not allowed", key, k, c)
			}
		}
		if k[0] == '.' || k[len(k)-1] == '.' || slices.Contains([]byte(k), 0) {
			t.Errorf("kvKey(%q) = %q: bad dots", key, k)
		}
		back, err := storeKey(k)
		if err != nil || back != key {
			t.Errorf("storeKey(kvKey(%q)) = %q, %v", key, back, err)
		}
	}
	for _, bad := range []string{"a=4", "a=G1", "="[:0] + "b=4"} {
		if _, err := storeKey(bad); err == nil {
			t.Errorf("storeKey(%q): got no error", bad)
		}
	}
}

func TestKVStoreRefusesStaleWrites(t *testing.T) {
	st := openTestStore(t)
	ctx := context.Background()
	revs, err := st.Update(ctx, core.Write{Key: "k", Value: []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Update(ctx, core.Write{Key: "k", Value: []byte("2")}); !errors.Is(err, core.ErrStale) {
		t.Errorf("create over an existing key: got %v, want ErrStale", err)
	}
	if _, err := st.Update(ctx, core.Write{Key: "other", Value: []byte("x"), Rev: 99}, core.Write{Key: "k", Value: []byte("2"), Rev: revs[0]}); !errors.Is(err, core.ErrStale) {
		t.Errorf("update starting with a stale write: got %v, want ErrStale", err)
	}
	if v, _, _ := st.Get(ctx, "k"); string(v) != "1" {
		t.Errorf("writes after a stale one must not be applied: got %q, want %q", v, "1")
	}
	revs2, err := st.Update(ctx, core.Write{Key: "k", Value: []byte("2"), Rev: revs[0]})
	if err != nil {
		t.Fatal(err)
	}
	if revs2[0] <= revs[0] {
		t.Errorf("revision went from %d to %d, want it to grow", revs[0], revs2[0])
	}
	if v, rev, _ := st.Get(ctx, "k"); string(v) != "2" || rev != revs2[0] {
		t.Errorf("got %q rev %d, want %q rev %d", v, rev, "2", revs2[0])
	}
	del, err := st.Update(ctx, core.Write{Key: "k", Rev: revs2[0]})
	if err != nil {
		t.Fatal(err)
	}
	if del[0] != 0 {
		t.Errorf("deletion revision: got %d, want 0", del[0])
	}
	if v, rev, _ := st.Get(ctx, "k"); v != nil || rev != 0 {
		t.Errorf("deleted key: got %q rev %d", v, rev)
	}
	if _, err := st.Update(ctx, core.Write{Key: "k", Value: []byte("3"), Rev: revs2[0]}); !errors.Is(err, core.ErrStale) {
		t.Errorf("write naming the revision before the deletion: got %v, want ErrStale", err)
	}
	revs3, err := st.Update(ctx, core.Write{Key: "k", Value: []byte("3")})
	if err != nil {
		t.Fatalf("create after a deletion: %v", err)
	}
	if revs3[0] <= revs2[0] {
		t.Errorf("revision after re-creation went from %d to %d, want it to grow", revs2[0], revs3[0])
	}
}

func TestKVStoreUpdateAppliesInOrderUntilStale(t *testing.T) {
	st := openTestStore(t)
	ctx := context.Background()
	writes := []core.Write{{Key: "p/unit/a", Value: []byte("a")}, {Key: "p/unit/b", Value: []byte("b")}, {Key: "p/pending", Value: []byte("x")}}
	revs, err := st.Update(ctx, writes...)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range writes {
		v, rev, err := st.Get(ctx, w.Key)
		if err != nil || string(v) != string(w.Value) || rev != revs[i] {
			t.Errorf("%s: got %q rev %d (%v), want %q rev %d", w.Key, v, rev, err, w.Value, revs[i])
		}
	}
	// The second write is stale: the first stays applied, the third is not tried.
	_, err = st.Update(ctx,
		core.Write{Key: "p/unit/a", Value: []byte("a2"), Rev: revs[0]},
		core.Write{Key: "p/unit/b", Value: []byte("b2"), Rev: revs[1] + 100},
		core.Write{Key: "p/pending", Rev: revs[2]})
	if !errors.Is(err, core.ErrStale) {
		t.Fatalf("got %v, want ErrStale", err)
	}
	for key, want := range map[string]string{"p/unit/a": "a2", "p/unit/b": "b", "p/pending": "x"} {
		if v, _, _ := st.Get(ctx, key); string(v) != want {
			t.Errorf("%s: got %q, want %q", key, v, want)
		}
	}
}

func TestKVStoreListsByPrefixSorted(t *testing.T) {
	st := openTestStore(t)
	ctx := context.Background()
	keys := []string{"p/unit/user:2/steps", "p/unit/user:10", "p/unit/a.b", "p/unit/", "p/unitx", "p/pending", "q/unit/a", "p/run/w1"}
	for _, k := range keys {
		if _, err := st.Update(ctx, core.Write{Key: k, Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	gone, _, _ := st.Get(ctx, "p/unit/a.b")
	if gone == nil {
		t.Fatal("p/unit/a.b not written")
	}
	_, rev, _ := st.Get(ctx, "p/unit/a.b")
	if _, err := st.Update(ctx, core.Write{Key: "p/unit/a.b", Rev: rev}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"p/unit/", []string{"p/unit/", "p/unit/user:10", "p/unit/user:2/steps"}},
		{"p/unit", []string{"p/unit/", "p/unit/user:10", "p/unit/user:2/steps", "p/unitx"}},
		{"p/unit/user:1", []string{"p/unit/user:10"}},
		{"q/", []string{"q/unit/a"}},
		{"none/", nil},
		{"", []string{"p/pending", "p/run/w1", "p/unit/", "p/unit/user:10", "p/unit/user:2/steps", "p/unitx", "q/unit/a"}},
	} {
		t.Run(fmt.Sprintf("%q", tc.prefix), func(t *testing.T) {
			got, err := st.List(ctx, tc.prefix)
			if err != nil {
				t.Fatal(err)
			}
			var gotKeys []string
			for _, e := range got {
				gotKeys = append(gotKeys, e.Key)
				if string(e.Value) != e.Key || e.Rev == 0 {
					t.Errorf("%s: value %q rev %d", e.Key, e.Value, e.Rev)
				}
			}
			if !slices.Equal(gotKeys, tc.want) {
				t.Errorf("got %q, want %q", gotKeys, tc.want)
			}
		})
	}
}

func TestFencedStoreIsRefusedAfterAClaim(t *testing.T) {
	st := openTestStore(t)
	ctx := context.Background()
	rev, err := st.Claim(ctx, "p/claim/u", []byte("worker-1"))
	if err != nil {
		t.Fatal(err)
	}
	old := st.Fenced("p/claim/u", rev)
	revs, err := old.Update(ctx, core.Write{Key: "p/pending/u", Value: []byte("1")}, core.Write{Key: "p/unit/u", Value: []byte("pos1")})
	if err != nil {
		t.Fatalf("fenced creations while the claim holds: %v", err)
	}
	if _, err := old.Update(ctx, core.Write{Key: "p/pending/u", Rev: revs[0]}); err != nil {
		t.Fatalf("fenced deletion: %v", err)
	}
	// The unit is redelivered: another worker claims it.
	rev2, err := st.Claim(ctx, "p/claim/u", []byte("worker-2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Update(ctx, core.Write{Key: "p/pending/u", Value: []byte("2")}); !errors.Is(err, core.ErrStale) {
		t.Fatalf("creation by the old holder after the claim: got %v, want ErrStale", err)
	}
	if v, _, _ := st.Get(ctx, "p/pending/u"); v != nil {
		t.Errorf("refused fenced write left %q", v)
	}
	cur := st.Fenced("p/claim/u", rev2)
	if _, err := cur.Update(ctx, core.Write{Key: "p/pending/u", Value: []byte("3")}, core.Write{Key: "p/unit/u", Value: []byte("pos2"), Rev: revs[1]}); err != nil {
		t.Fatalf("writes of the new holder: %v", err)
	}
	// Writes naming a revision keep their own check under a fence.
	if _, err := cur.Update(ctx, core.Write{Key: "p/unit/u", Value: []byte("pos3"), Rev: revs[1]}); !errors.Is(err, core.ErrStale) {
		t.Fatalf("stale update under a valid fence: got %v, want ErrStale", err)
	}
}
