package cluster

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestClusterBundleRoundTrip(t *testing.T) {
	for _, b := range []Bundle{
		{Model: "m", Version: "1.0.0", ModelFile: []byte("model bytes"), Profile: []byte(`{"p":1}`)},
		{Model: "churn", Version: "2", ModelFile: bytes.Repeat([]byte{0, 1, 2}, 1000)}, // no profile
	} {
		got, err := DecodeBundle(EncodeBundle(b))
		if err != nil {
			t.Fatal(err)
		}
		if got.Model != b.Model || got.Version != b.Version || !bytes.Equal(got.ModelFile, b.ModelFile) || !bytes.Equal(got.Profile, b.Profile) {
			t.Errorf("round trip of %s %s changed it", b.Model, b.Version)
		}
	}
}

func TestClusterDecodeBundleErrors(t *testing.T) {
	good := EncodeBundle(Bundle{Model: "m", Version: "1", ModelFile: []byte("abc"), Profile: []byte("p")})
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"other magic", []byte("DRIFTDC1xxxx"), "bad magic"},
		{"cut in model file", good[:len(good)-5], "profile at offset"},
		{"trailing", append(append([]byte{}, good...), 0), "trailing"},
		{"huge length", append(append([]byte{}, good[:8]...), 0xff, 0xff, 0xff, 0xff), "model at offset 8"},
		{"empty names", EncodeBundle(Bundle{ModelFile: []byte("x")}), "empty model name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBundle(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestClusterSplitBundleAndChunks(t *testing.T) {
	raw := EncodeBundle(Bundle{Model: "m", Version: "1", ModelFile: bytes.Repeat([]byte("x"), 2500)})
	for _, size := range []int{1, 7, 1000, len(raw), len(raw) + 1} {
		chunks := SplitBundle("m", "1", raw, size)
		var back []byte
		for i, c := range chunks {
			if len(c.Data) > size {
				t.Fatalf("chunk %d has %d bytes, over %d", i, len(c.Data), size)
			}
			dc, err := DecodeChunk(EncodeChunk(c))
			if err != nil {
				t.Fatal(err)
			}
			if dc.Index != i || dc.Count != len(chunks) || dc.Size != int64(len(raw)) || dc.Model != "m" || dc.Version != "1" {
				t.Fatalf("chunk %d decoded as %+v", i, dc)
			}
			back = append(back, dc.Data...)
		}
		if !bytes.Equal(back, raw) {
			t.Fatalf("chunks of %d bytes do not reassemble the bundle", size)
		}
	}
}

func TestClusterDecodeChunkErrors(t *testing.T) {
	c := EncodeChunk(Chunk{Model: "m", Version: "1", Index: 0, Count: 2, Size: 4, Data: []byte("ab")})
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"magic", []byte("nope"), "bad magic"},
		{"index past count", EncodeChunk(Chunk{Model: "m", Version: "1", Index: 2, Count: 2, Size: 4}), "out of range"},
		{"no count", EncodeChunk(Chunk{Model: "m", Version: "1", Size: 4}), "out of range"},
		{"data over size", EncodeChunk(Chunk{Model: "m", Version: "1", Count: 1, Size: 1, Data: []byte("ab")}), "more than the bundle"},
		{"header cut", c[:20], "cut short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeChunk(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestClusterChunkKeys(t *testing.T) {
	d := Digest([]byte("x"))
	got, i, err := ParseChunkKey(ChunkKey(d, 42))
	if err != nil || got != d || i != 42 {
		t.Fatalf("ParseChunkKey(ChunkKey) = %q %d %v", got, i, err)
	}
	for _, bad := range []string{"", d, d + "/x", d + "/-1", "md5:abc/1", "sha256:zz/1"} {
		if _, _, err := ParseChunkKey(bad); err == nil {
			t.Errorf("ParseChunkKey(%q) accepted", bad)
		}
	}
}

func TestClusterDeploymentRecord(t *testing.T) {
	d := Deployment{Model: "m", Environment: "production", Version: "1.0.0", Digest: Digest([]byte("b")), Chunks: 2, Size: 10,
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), User: "alice", Primary: "h/1"}
	got, err := DecodeDeployment(EncodeDeployment(d))
	if err != nil || got != d {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		in, want string
	}{
		{`{`, "deployment record"},
		{`{"model":"m","environment":"e"}`, "required"},
		{`{"model":"m","environment":"e","version":"1","digest":"x","chunks":1}`, "bad digest"},
		{`{"model":"m","environment":"e","version":"1","digest":"` + d.Digest + `","chunks":0}`, "bad chunk count"},
		{`{"model":"m","environment":"e","version":"1","digest":"` + d.Digest + `","chunks":1,"size":-1}`, "bad size"},
	} {
		if _, err := DecodeDeployment([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeDeployment(%s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func FuzzDecodeBundle(f *testing.F) {
	f.Add(EncodeBundle(Bundle{Model: "m", Version: "1", ModelFile: []byte("abc"), Profile: []byte("p")}))
	f.Add([]byte("DRIFTDB1"))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := DecodeBundle(p)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeBundle(b), p) {
			t.Fatalf("decoded bundle does not encode back to its input")
		}
	})
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add(EncodeChunk(Chunk{Model: "m", Version: "1", Index: 1, Count: 3, Size: 10, Data: []byte("abc")}))
	f.Add([]byte("DRIFTDC1"))
	f.Fuzz(func(t *testing.T, p []byte) {
		c, err := DecodeChunk(p)
		if err != nil {
			return
		}
		if c.Index >= c.Count || int64(len(c.Data)) > c.Size || !bytes.Equal(EncodeChunk(c), p) {
			t.Fatalf("decoded chunk %+v breaks its invariants or does not encode back", c)
		}
	})
}

func FuzzDecodeDeployment(f *testing.F) {
	f.Add(EncodeDeployment(Deployment{Model: "m", Environment: "e", Version: "1", Digest: Digest(nil), Chunks: 1}))
	f.Add([]byte(`{"model":1}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := DecodeDeployment(p)
		if err != nil {
			return
		}
		if d.Chunks <= 0 || !validDigest(d.Digest) || d.Version == "" {
			t.Fatalf("accepted a record breaking its invariants: %+v", d)
		}
	})
}

func FuzzParseChunkKey(f *testing.F) {
	f.Add(ChunkKey(Digest(nil), 3))
	f.Add("sha256:/1")
	f.Fuzz(func(t *testing.T, key string) {
		d, i, err := ParseChunkKey(key)
		if err != nil {
			return
		}
		if !validDigest(d) || i < 0 {
			t.Fatalf("ParseChunkKey(%q) = %q %d", key, d, i)
		}
	})
}
