package asitest

import (
	"math"
	"slices"
	"time"
)

// mix64 is splitmix64's finaliser: value j of a stream keyed k is
// mix64(k + j*gamma), so any sample can be computed without the ones before it
// (the REST history serves any window, the live streams any instant).
// Hand-written because math/rand/v2's generators are sequential.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

const gamma = 0x9e3779b97f4a7c15

// unit returns a uniform value in [0, 1) from stream k at index i.
func unit(k uint64, i int64) float64 {
	return float64(mix64(k+uint64(i)*gamma)>>11) / (1 << 53)
}

func round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(x*p) / p
}

// period is a half-open interval of time [Start, End).
type period struct{ Start, End time.Time }

func (p period) overlaps(q period) bool { return p.Start.Before(q.End) && q.Start.Before(p.End) }

// intersect returns the parts of ps that lie within q, in order.
func intersect(ps []period, q period) []period {
	var out []period
	for _, p := range ps {
		s, e := maxTime(p.Start, q.Start), minTime(p.End, q.End)
		if s.Before(e) {
			out = append(out, period{s, e})
		}
	}
	return out
}

// intersectAll returns the parts of ps covered by some period of qs, in order
// (qs need not be sorted or disjoint, ps must be sorted and disjoint).
func intersectAll(ps, qs []period) []period {
	var out []period
	for _, q := range qs {
		out = append(out, intersect(ps, q)...)
	}
	return mergePeriods(out)
}

// mergePeriods sorts ps and merges those that overlap or touch.
func mergePeriods(ps []period) []period {
	slices.SortFunc(ps, func(a, b period) int { return a.Start.Compare(b.Start) })
	var out []period
	for _, p := range ps {
		if n := len(out); n > 0 && !p.Start.After(out[n-1].End) {
			if p.End.After(out[n-1].End) {
				out[n-1].End = p.End
			}
			continue
		}
		out = append(out, p)
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// generator produces one device's samples: every value is a pure function of
// the seed, the device id and the instant, so the REST history, the computed
// data and (later) the live streams agree with each other.
type generator struct {
	key        uint64
	rate       int     // GNSS samples per second
	lat0, lon0 float64 // centre of the device's pitch
	alt0       float64
	phase      [4]float64
	// Optional data, to exercise clients: pwr is a power meter, imu an extra
	// group no documentation names, hdop an extra GNSS field.
	pwr, imu, hdop bool
}

func newGenerator(seed int64, device int64, rate int) *generator {
	k := mix64(mix64(uint64(seed)^0xa51a51a51a51a51a) ^ uint64(device))
	g := &generator{
		key:  k,
		rate: rate,
		lat0: 46.5 + unit(k, 1)*0.5,
		lon0: 6.5 + unit(k, 2)*0.8,
		alt0: 370 + unit(k, 3)*300,
		pwr:  device%2 == 0,
		imu:  device%3 == 0,
		hdop: device%4 == 0,
	}
	for i := range g.phase {
		g.phase[i] = unit(k, int64(10+i)) * 2 * math.Pi
	}
	return g
}

// Streams of per-second noise.
const (
	subSpeed = iota + 100
	subHR
	subPower
	subIMU
)

// speed is the device's speed (m/s, ≥ 0) at ms: two slow waves plus noise that
// is constant within each second, so accelerations of 2–4 m/s² happen now and
// then between seconds.
func (g *generator) speed(ms int64) float64 {
	t := float64(ms) / 1000
	sec := floorDiv(ms, 1000)
	v := 3 + 2.5*math.Sin(2*math.Pi*t/97+g.phase[0]) + 1.5*math.Sin(2*math.Pi*t/23+g.phase[1])
	v += (unit(g.key+subSpeed, sec) - 0.5) * 2.4
	return round(math.Max(0, v), 3)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// message is the preprocessed data of one second of one device: groups of
// parallel arrays, timestamps in UNIX ms. Groups a device does not have, or
// not in that second, are left out.
type message struct {
	GNSS   *gnssGroup   `json:"gnss,omitempty"`
	ECG    *ecgGroup    `json:"ecg,omitempty"`
	PWR    *pwrGroup    `json:"pwr,omitempty"`
	Device *deviceGroup `json:"device,omitempty"`
	IMU    *imuGroup    `json:"imu,omitempty"`
}

type gnssGroup struct {
	Timestamp []int64   `json:"timestamp"`
	Longitude []float64 `json:"longitude"`
	Latitude  []float64 `json:"latitude"`
	Speed     []float64 `json:"speed"`
	Altitude  []float64 `json:"altitude"`
	HDOP      []float64 `json:"hdop,omitempty"`
}

type ecgGroup struct {
	Timestamp []int64   `json:"timestamp"`
	HR        []float64 `json:"hr"`
}

type pwrGroup struct {
	Timestamp []int64   `json:"timestamp"`
	Cadence   []float64 `json:"pwr_cadence"`
	Power     []float64 `json:"pwr_instantpower"`
}

type deviceGroup struct {
	Timestamp  []int64   `json:"timestamp"`
	Standstill []bool    `json:"standstill"`
	Battery    []float64 `json:"Bat_lvl"`
}

type imuGroup struct {
	Timestamp []int64   `json:"timestamp"`
	AccX      []float64 `json:"acc_x"`
	AccY      []float64 `json:"acc_y"`
	AccZ      []float64 `json:"acc_z"`
}

// message returns the samples of the second starting at sec (UNIX seconds).
func (g *generator) message(sec int64) message {
	base := sec * 1000
	n := g.rate
	gn := &gnssGroup{
		Timestamp: make([]int64, n), Longitude: make([]float64, n), Latitude: make([]float64, n),
		Speed: make([]float64, n), Altitude: make([]float64, n),
	}
	if g.hdop {
		gn.HDOP = make([]float64, n)
	}
	for j := range n {
		ms := base + int64(j*1000/n)
		t := float64(ms) / 1000
		a := 2*math.Pi*t/300 + g.phase[2]
		gn.Timestamp[j] = ms
		gn.Longitude[j] = round(g.lon0+0.0006*math.Cos(a), 7)
		gn.Latitude[j] = round(g.lat0+0.0004*math.Sin(a), 7)
		gn.Speed[j] = g.speed(ms)
		gn.Altitude[j] = round(g.alt0+2*math.Sin(2*math.Pi*t/600+g.phase[3]), 2)
		if g.hdop {
			gn.HDOP[j] = round(0.6+unit(g.key, ms)*0.8, 2)
		}
	}
	m := message{GNSS: gn}
	v := g.speed(base)
	m.ECG = &ecgGroup{Timestamp: []int64{base}, HR: []float64{math.Round(95 + 12*v + (unit(g.key+subHR, sec)-0.5)*6)}}
	if g.pwr {
		m.PWR = &pwrGroup{
			Timestamp: []int64{base},
			Cadence:   []float64{math.Round(60 + 8*v)},
			Power:     []float64{math.Round(80 + 45*v + unit(g.key+subPower, sec)*20)},
		}
	}
	if ((sec%5)+5)%5 == 0 {
		m.Device = &deviceGroup{
			Timestamp:  []int64{base},
			Standstill: []bool{v < 0.3},
			Battery:    []float64{round(100-float64(((sec%86400)+86400)%86400)/1000, 1)},
		}
	}
	if g.imu {
		m.IMU = &imuGroup{
			Timestamp: []int64{base},
			AccX:      []float64{round((unit(g.key+subIMU, sec*3)-0.5)*4, 3)},
			AccY:      []float64{round((unit(g.key+subIMU, sec*3+1)-0.5)*4, 3)},
			AccZ:      []float64{round(9.81+(unit(g.key+subIMU, sec*3+2)-0.5)*2, 3)},
		}
	}
	return m
}

// computed returns the computed data of a time frame: from the device's speed
// at every second it recorded within the time frame (recorded, already cut to
// the time frame and the clock). thresholds come from the time frame's params.
func (g *generator) computed(recorded []period, thresholds []float64, end time.Time) map[string]any {
	var (
		dist, maxV float64
		secs       int64
		load       float64
		sprints    int
		prev       float64
		havePrev   bool
	)
	acc := make([][]float64, len(thresholds))
	dec := make([][]float64, len(thresholds))
	for _, p := range recorded {
		havePrev = false
		for sec := p.Start.Unix(); sec < p.End.Unix(); sec++ {
			v := g.speed(sec * 1000)
			dist += v
			maxV = math.Max(maxV, v)
			secs++
			if v > 6 {
				sprints++
			}
			if havePrev {
				a := round(v-prev, 3)
				load += math.Abs(a)
				for i, th := range thresholds {
					if a >= th {
						acc[i] = append(acc[i], a)
					}
					if -a >= th {
						dec[i] = append(dec[i], -a)
					}
				}
			}
			prev, havePrev = v, true
		}
	}
	out := map[string]any{
		"total_distance": round(dist, 3),
		"max_speed":      maxV,
		"average_speed":  0.0,
		"last_timestamp": float64(end.UnixMilli()),
		"accelerations":  thresholdMap(thresholds, acc),
		"decelerations":  thresholdMap(thresholds, dec),
		// Keys no documentation names: a client must keep them.
		"player_load": round(load/100, 3),
		"sprints":     sprints,
	}
	if secs > 0 {
		out["average_speed"] = round(dist/float64(secs), 6)
	}
	return out
}

func thresholdMap(thresholds []float64, values [][]float64) map[string]any {
	m := make(map[string]any, len(thresholds))
	for i, th := range thresholds {
		vs := values[i]
		if vs == nil {
			vs = []float64{}
		}
		m["threshold_"+itoa(int64(i+1))] = map[string]any{"threshold": th, "values": vs}
	}
	return m
}
