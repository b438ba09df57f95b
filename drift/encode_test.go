package drift

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func testProfile(t testing.TB) *Profile {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	cols := genData(rng, 3000, 0)
	preds := make([]float64, 500)
	for i := range preds {
		preds[i] = rng.Float64()
	}
	p, err := BuildProfile(cols, preds, ProfileOptions{SummarySize: 200})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProfileRoundTrip(t *testing.T) {
	p := testProfile(t)
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	q, err := DecodeProfile(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := q.MarshalBinary()
	if !bytes.Equal(b, b2) {
		t.Fatal("re-encoded profile differs")
	}
	if q.Prediction == nil || len(q.Features) != 4 || q.Features[3].Categories[0] != p.Features[3].Categories[0] {
		t.Fatalf("decoded profile %+v", q)
	}
	if q.Features[0].KSError <= 0 || q.Features[0].W1Error <= 0 || len(q.Features[0].Summary) != 200 {
		t.Errorf("summary of 3000 values in 200: error bounds %v %v, len %d", q.Features[0].KSError, q.Features[0].W1Error, len(q.Features[0].Summary))
	}
	// A decoded profile drives a monitor (category index rebuilt).
	m, err := NewMonitor(q, MonitorOptions{WindowSize: 10, MinWindow: 10, CheckInterval: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		m.Observe([]float64{0, 1, 0.5, 0}, []string{"", "", "", q.Features[3].Categories[0]}, 0.5)
	}
	m.Close() // evaluates the queued check
	if ev := m.Snapshot(); ev.Features[3].Rows != 10 || ev.Features[3].PSI <= 0 {
		t.Errorf("monitor on a decoded profile: %+v", ev.Features[3])
	}
}

func TestDecodeProfileBadInput(t *testing.T) {
	good, _ := testProfile(t).MarshalBinary()
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	cases := map[string][]byte{
		"empty":              nil,
		"foreign":            []byte("PK\x03\x04 a zip file"),
		"version":            append([]byte("DRFP\x09"), good[5:]...),
		"header only sealed": binary.LittleEndian.AppendUint32([]byte("DRFP\x01"), crc32.ChecksumIEEE([]byte("DRFP\x01"))),
		"truncated":          good[:len(good)-3],
		"trailing":           append(bytes.Clone(good), 0),
		"header only":        good[:5],
		"flipped byte":       flipped,
	}
	for name, b := range cases {
		if _, err := DecodeProfile(b); !errors.Is(err, ErrCorruptProfile) {
			t.Errorf("%s: error %v, want ErrCorruptProfile", name, err)
		}
	}
}

func FuzzDecodeProfile(f *testing.F) {
	good, _ := testProfile(f).MarshalBinary()
	body := good[:len(good)-4] // seeds without their checksum (the target seals them)
	f.Add(body)
	f.Add(body[:40])
	f.Add([]byte("DRFP\x01"))
	small, _ := BuildProfile([]Column{numCol("a", 1, 2), catCol("c", "x", "")}, nil, ProfileOptions{})
	sb, _ := small.MarshalBinary()
	f.Add(sb[:len(sb)-4])
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeProfile(b); err != nil && !errors.Is(err, ErrCorruptProfile) {
			t.Fatalf("error %v does not wrap ErrCorruptProfile", err)
		}
		// Seal the input with a valid checksum so the fuzzer reaches the parser.
		b = binary.LittleEndian.AppendUint32(bytes.Clone(b), crc32.ChecksumIEEE(b))
		p, err := DecodeProfile(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptProfile) {
				t.Fatalf("error %v does not wrap ErrCorruptProfile", err)
			}
			return
		}
		// Anything accepted re-encodes identically and drives a window.
		out, _ := p.MarshalBinary()
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs")
		}
		w, err := NewWindow(p, 4)
		if err != nil {
			return
		}
		num := make([]float64, len(p.Features))
		cat := make([]string, len(p.Features))
		for i := range cat {
			cat[i] = "zz"
		}
		w.Add(num, cat, 0)
		if _, _, err := p.CheckCounts(w.Counts(), CompareOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEventAndPerformanceJSONHaveNoNaN(t *testing.T) {
	p, _ := BuildProfile([]Column{numCol("a", 1, 2, 3)}, nil, ProfileOptions{})
	m, _ := NewMonitor(p, MonitorOptions{Model: "m", WindowSize: 2, MinWindow: 2, CheckInterval: 2})
	m.Observe([]float64{nan}, nil, 0)
	m.Observe([]float64{9}, nil, 0)
	m.Close()
	for _, v := range []any{m.Snapshot(), m.Performance()} {
		b, err := json.Marshal(v)
		if err != nil || bytes.Contains(b, []byte("NaN")) {
			t.Fatalf("%s: %v", b, err)
		}
		if !bytes.Contains(b, []byte(`"prediction_psi":null`)) && !bytes.Contains(b, []byte(`"auc":null`)) {
			t.Errorf("non-finite field not null: %s", b)
		}
	}
}
