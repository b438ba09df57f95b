package scheduler_test

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"driftd/scheduler"
)

// trainFlow has one param of each type, a hidden one and a Validate hook.
func trainFlow() scheduler.Flow {
	return scheduler.Flow{Name: "train", Queue: "training",
		Params: []scheduler.Param{
			{Name: "rounds", Type: scheduler.TypeInt, Required: true},
			{Name: "lr", Type: scheduler.TypeFloat, Default: 0.1},
			{Name: "mode", Type: scheduler.TypeString, Enum: []string{"fast", "slow"}, Default: "fast"},
			{Name: "dry", Type: scheduler.TypeBool},
			{Name: "window", Type: scheduler.TypeDuration, Default: time.Minute},
			{Name: "exp_run", Type: scheduler.TypeString, Hidden: true},
		},
		Validate: func(ctx context.Context, p scheduler.Params) error {
			if p.Int("rounds") > 1000 {
				return scheduler.Errorf("params.rounds", "at most 1000")
			}
			return nil
		},
		Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) { return rc.Params, nil },
	}
}

func TestParams(t *testing.T) {
	store, _ := mustStore(t)
	e := mustNew(t, store, scheduler.Options{}, trainFlow())
	defaults := scheduler.Params{"lr": 0.1, "mode": "fast", "window": time.Minute}
	with := func(kv ...any) scheduler.Params {
		p := scheduler.Params{}
		for k, v := range defaults {
			p[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i].(string)] = kv[i+1]
		}
		return p
	}
	for _, tc := range []struct {
		name  string
		raw   map[string]any
		want  scheduler.Params
		field string
		msg   string
	}{
		{name: "json numbers", raw: map[string]any{"rounds": 50.0, "lr": 0.3}, want: with("rounds", int64(50), "lr", 0.3)},
		{name: "json.Number", raw: map[string]any{"rounds": json.Number("7"), "lr": json.Number("1e-3")}, want: with("rounds", int64(7), "lr", 0.001)},
		{name: "form strings", raw: map[string]any{"rounds": " 42 ", "lr": "0.5", "dry": "on", "mode": "slow", "window": "90s"},
			want: with("rounds", int64(42), "lr", 0.5, "dry", true, "mode", "slow", "window", 90*time.Second)},
		{name: "integral float string", raw: map[string]any{"rounds": "1e2"}, want: with("rounds", int64(100))},
		{name: "go values", raw: map[string]any{"rounds": 3, "dry": false, "window": 2 * time.Hour}, want: with("rounds", int64(3), "dry", false, "window", 2*time.Hour)},
		{name: "duration in seconds", raw: map[string]any{"rounds": 1.0, "window": "30"}, want: with("rounds", int64(1), "window", 30*time.Second)},
		{name: "duration as a number", raw: map[string]any{"rounds": 1.0, "window": 1.5}, want: with("rounds", int64(1), "window", 1500*time.Millisecond)},
		{name: "blank means default", raw: map[string]any{"rounds": 1.0, "lr": "", "window": nil}, want: with("rounds", int64(1))},
		{name: "hidden param by the submitter", raw: map[string]any{"rounds": 1.0, "exp_run": "12"}, want: with("rounds", int64(1), "exp_run", "12")},
		{name: "unknown", raw: map[string]any{"rounds": 1.0, "depth": 3.0}, field: "params.depth",
			msg: "unknown parameter of flow train (known: rounds, lr, mode, dry, window)"},
		{name: "missing required", raw: map[string]any{"lr": 0.2}, field: "params.rounds", msg: "required"},
		{name: "blank required", raw: map[string]any{"rounds": ""}, field: "params.rounds", msg: "required"},
		{name: "not an integer", raw: map[string]any{"rounds": "ten"}, field: "params.rounds", msg: "must be an integer"},
		{name: "fractional integer", raw: map[string]any{"rounds": 1.5}, field: "params.rounds", msg: "must be an integer"},
		{name: "integer out of range", raw: map[string]any{"rounds": 1e19}, field: "params.rounds", msg: "must be an integer"},
		{name: "bool for an integer", raw: map[string]any{"rounds": true}, field: "params.rounds", msg: "must be an integer"},
		{name: "not a number", raw: map[string]any{"rounds": 1.0, "lr": "fast"}, field: "params.lr", msg: "must be a number"},
		{name: "NaN", raw: map[string]any{"rounds": 1.0, "lr": "NaN"}, field: "params.lr", msg: "finite"},
		{name: "infinite", raw: map[string]any{"rounds": 1.0, "lr": math.Inf(1)}, field: "params.lr", msg: "finite"},
		{name: "not a bool", raw: map[string]any{"rounds": 1.0, "dry": "maybe"}, field: "params.dry", msg: "true or false"},
		{name: "not a string", raw: map[string]any{"rounds": 1.0, "mode": 3.0}, field: "params.mode", msg: "must be a string"},
		{name: "enum", raw: map[string]any{"rounds": 1.0, "mode": "medium"}, field: "params.mode", msg: "must be one of fast, slow"},
		{name: "not a duration", raw: map[string]any{"rounds": 1.0, "window": "soon"}, field: "params.window", msg: "duration"},
		{name: "a list", raw: map[string]any{"rounds": []any{1.0}}, field: "params.rounds", msg: "must be an integer"},
		{name: "flow's Validate", raw: map[string]any{"rounds": 5000.0}, field: "params.rounds", msg: "at most 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Params("train", tc.raw)
			if tc.field != "" {
				wantField(t, err, tc.field, tc.msg)
				return
			}
			must(t, err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("params %#v, want %#v", got, tc.want)
			}
			// What a run stores reads back to the same values.
			raw, err := json.Marshal(got.Stored())
			must(t, err)
			var stored map[string]any
			must(t, json.Unmarshal(raw, &stored))
			again, err := e.Params("train", stored)
			must(t, err)
			if !reflect.DeepEqual(again, got) {
				t.Fatalf("stored %s read back as %#v", raw, again)
			}
		})
	}
	_, err := e.Params("nope", nil)
	wantErr(t, err, scheduler.ErrUnknownFlow)
}

func TestSubmitParams(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	f := trainFlow()
	f.Prepare = func(ctx context.Context, p scheduler.Params, tr scheduler.Trigger) error {
		if p.String("mode") == "slow" {
			return scheduler.Errorf("params.mode", "slow mode is off today")
		}
		p["exp_run"] = "run-for-" + tr.By
		return nil
	}
	e := mustEngine(t, store, scheduler.Options{}, f)
	r, err := e.Submit(ctx, "train", map[string]any{"rounds": "3", "window": "1m30s"}, scheduler.SubmitOptions{Trigger: scheduler.Trigger{By: "carol"}})
	must(t, err)
	want := map[string]any{"rounds": int64(3), "lr": 0.1, "mode": "fast", "window": "1m30s", "exp_run": "run-for-carol"}
	if !reflect.DeepEqual(r.Params, want) {
		t.Fatalf("run params %#v, want %#v", r.Params, want)
	}
	done := mustWait(t, e, r.ID)
	if !strings.Contains(string(done.Result), `"exp_run":"run-for-carol"`) || !strings.Contains(string(done.Result), `"window":90000000000`) {
		t.Fatalf("the flow saw %s", done.Result)
	}
	stored, err := store.FlowRun(ctx, r.ID)
	must(t, err)
	p, err := e.Params("train", stored.Params)
	must(t, err)
	if p.Duration("window") != 90*time.Second || p.Int("rounds") != 3 || p.String("exp_run") != "run-for-carol" {
		t.Fatalf("stored params read back %#v", p)
	}
	_, err = e.Submit(ctx, "train", map[string]any{"rounds": 1.0, "mode": "slow"}, scheduler.SubmitOptions{})
	wantField(t, err, "params.mode", "off today")
	_, err = e.Submit(ctx, "train", map[string]any{}, scheduler.SubmitOptions{})
	wantField(t, err, "params.rounds", "required")
	if runs, _ := e.List(ctx, scheduler.RunFilter{}); len(runs) != 1 {
		t.Fatalf("refused submits stored runs: %d", len(runs))
	}
}

func FuzzParams(f *testing.F) {
	store, _ := mustStore(f)
	e := mustNew(f, store, scheduler.Options{}, trainFlow())
	f.Add("rounds", "12", 0.5, true)
	f.Add("lr", "1e-3", -2.0, false)
	f.Add("window", "1h30m", 90.0, true)
	f.Add("window", "-2562047h47m16.854775808s", 1e300, false)
	f.Add("mode", "slow", 0.0, false)
	f.Add("dry", "yes", 1.0, true)
	f.Add("rounds", "9007199254740993", 9007199254740993.0, false)
	f.Add("exp_run", "\xff", 0.0, false)
	f.Add("bogus", "", math.NaN(), false)
	f.Fuzz(func(t *testing.T, name, s string, num float64, b bool) {
		for _, raw := range []map[string]any{
			{"rounds": 1.0, name: s},
			{"rounds": 1.0, name: num},
			{"rounds": 1.0, name: b},
			{"rounds": s},
			{"rounds": num, "lr": num, "window": num},
			{"rounds": json.Number(s)},
		} {
			p, err := e.Params("train", raw)
			if err != nil {
				if _, ok := err.(*scheduler.ParamError); !ok {
					t.Fatalf("error of type %T: %v", err, err)
				}
				continue
			}
			js, err := json.Marshal(p.Stored())
			if err != nil {
				t.Fatalf("stored params of %#v do not encode: %v", raw, err)
			}
			var stored map[string]any
			if err := json.Unmarshal(js, &stored); err != nil {
				t.Fatal(err)
			}
			again, err := e.Params("train", stored)
			if err != nil {
				t.Fatalf("stored %s does not read back: %v", js, err)
			}
			if !reflect.DeepEqual(again, p) {
				t.Fatalf("stored %s read back as %#v, want %#v", js, again, p)
			}
		}
	})
}
