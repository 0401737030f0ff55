package pipeline

import "testing"

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		ok   bool
	}{
		{"0/4", Shard{0, 4}, true},
		{"3/4", Shard{3, 4}, true},
		{" 0/1 ", Shard{0, 1}, true},
		{"4/4", Shard{}, false},
		{"-1/4", Shard{}, false},
		{"1/0", Shard{}, false},
		{"1", Shard{}, false},
		{"a/b", Shard{}, false},
		{"", Shard{}, false},
	} {
		got, err := ParseShard(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestShardOf: the shard is the digest's first 8 bytes, big-endian, mod N.
func TestShardOf(t *testing.T) {
	mac := []byte{0, 0, 0, 0, 0, 0, 0x01, 0x07, 0xff, 0xff} // 0x0107 = 263
	for _, tc := range []struct{ n, want int }{{1, 0}, {2, 1}, {4, 3}, {5, 3}, {10, 3}, {263, 0}} {
		if got := (Shard{N: tc.n}).Of(mac); got != tc.want {
			t.Errorf("Of(263) mod %d = %d, want %d", tc.n, got, tc.want)
		}
	}
	if (Shard{N: 4}).owner(nil) != 0 {
		t.Error("a row without a valid card must belong to shard 0")
	}
}
