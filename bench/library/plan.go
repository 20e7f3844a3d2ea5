package library

import (
	"fmt"
	"math/bits"
	"path"
	"sort"
	"strings"
	"time"
)

// SizeDist draws cartridge sizes the way real sets spread them: an octave
// [2^k, 2^(k+1)] of [Min, Max] is chosen, each octave Decay percent as likely
// as the one below it (100 = log-uniform), then PowerOfTwoPct percent of the
// sizes are the octave's power of two (as most dumps are) and the rest fall
// anywhere in it. Min and Max must be powers of two.
type SizeDist struct {
	Min, Max      int64
	Decay         int
	PowerOfTwoPct int
}

// Preset describes a library to generate.
type Preset struct {
	Name string
	// Folders cartridge platform folders receive Files files, spread
	// unevenly (each folder's share varies by ±Spread/2 percent).
	Folders int
	Files   int
	Spread  int
	Sizes   SizeDist
	// Discs disc images of DiscMin–DiscMax bytes (each with a .cue sheet) go
	// to the "Sony - PlayStation" folder.
	Discs            int
	DiscMin, DiscMax int64
}

// Presets are the named libraries of `bench/gen -preset`.
var Presets = map[string]Preset{
	"small": {
		Name: "small", Folders: 12, Files: 20000, Spread: 60,
		Sizes: SizeDist{Min: 4 << 10, Max: 64 << 10, Decay: 100, PowerOfTwoPct: 60},
	},
	"mixed": {
		Name: "mixed", Folders: 10, Files: 1500, Spread: 80,
		Sizes: SizeDist{Min: 128 << 10, Max: 32 << 20, Decay: 63, PowerOfTwoPct: 70},
		Discs: 3, DiscMin: 400 << 20, DiscMax: 600 << 20,
	},
	"huge": {
		Name: "huge", Folders: 50, Files: 100000, Spread: 80,
		Sizes: SizeDist{Min: 512, Max: 16 << 10, Decay: 100, PowerOfTwoPct: 60},
	},
	"example": {
		Name: "example", Folders: 4, Files: 16, Spread: 40,
		Sizes: SizeDist{Min: 1 << 10, Max: 8 << 10, Decay: 100, PowerOfTwoPct: 50},
	},
}

// PresetNames returns the preset names, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate reports whether the preset can be generated.
func (p Preset) Validate() error {
	switch {
	case p.Folders < 1 || p.Folders > len(cartridgePlatforms):
		return fmt.Errorf("preset %s: folders %d not in 1..%d", p.Name, p.Folders, len(cartridgePlatforms))
	case p.Files < 0 || p.Spread < 0 || p.Spread > 100:
		return fmt.Errorf("preset %s: files %d or spread %d out of range", p.Name, p.Files, p.Spread)
	case p.Sizes.Min < 1 || p.Sizes.Max < p.Sizes.Min || !pow2(p.Sizes.Min) || !pow2(p.Sizes.Max):
		return fmt.Errorf("preset %s: sizes %d..%d must be powers of two, min <= max", p.Name, p.Sizes.Min, p.Sizes.Max)
	case p.Sizes.Decay < 1 || p.Sizes.PowerOfTwoPct < 0 || p.Sizes.PowerOfTwoPct > 100:
		return fmt.Errorf("preset %s: decay %d or power-of-two share %d out of range", p.Name, p.Sizes.Decay, p.Sizes.PowerOfTwoPct)
	case p.Discs < 0 || (p.Discs > 0 && (p.DiscMin < cdSector || p.DiscMax < p.DiscMin)):
		return fmt.Errorf("preset %s: discs %d of %d..%d bytes out of range", p.Name, p.Discs, p.DiscMin, p.DiscMax)
	}
	return nil
}

func pow2(n int64) bool { return n > 0 && n&(n-1) == 0 }

// File is one planned library file.
type File struct {
	Rel     string // slash-separated path relative to the library root
	Size    int64
	ModTime time.Time
	// Seed selects the pseudo-random content; Text, when not nil, is the
	// content instead (cue sheets).
	Seed uint64
	Text []byte
}

// Library is the plan of a whole library: its folders and files, sorted by
// path.
type Library struct {
	Folders []string
	Files   []File
}

// TotalBytes sums the file sizes.
func (l Library) TotalBytes() int64 {
	var n int64
	for _, f := range l.Files {
		n += f.Size
	}
	return n
}

// epoch and span bound generated mtimes: 2004-01-01 to about 2024-12 UTC,
// after FAT's 1980 epoch and before any plausible "now".
var epoch = time.Date(2004, 1, 1, 0, 0, 0, 0, time.UTC)

const mtimeSpan = 21 * 365 * 24 * 3600

// Plan computes the library a preset and seed produce, without touching the
// disk.
func Plan(p Preset, seed uint64) (Library, error) {
	if err := p.Validate(); err != nil {
		return Library{}, err
	}
	r := newRNG(derive(seed, label("plan"), label(p.Name)))
	var lib Library
	counts := spread(r, p.Files, p.Folders, p.Spread)
	for fi := 0; fi < p.Folders; fi++ {
		pl := cartridgePlatforms[fi]
		lib.Folders = append(lib.Folders, pl.Name)
		names := newNameGen(newRNG(derive(seed, label("names"), label(pl.Name))), pl.Ext)
		for i := 0; i < counts[fi]; i++ {
			lib.Files = append(lib.Files, File{
				Rel:     path.Join(pl.Name, names.next()),
				Size:    p.Sizes.draw(r),
				ModTime: drawMtime(r),
				Seed:    derive(seed, label("content"), uint64(fi), uint64(i)),
			})
		}
	}
	if p.Discs > 0 {
		lib.Folders = append(lib.Folders, discPlatform.Name)
		names := newNameGen(newRNG(derive(seed, label("names"), label(discPlatform.Name))), "")
		for i := 0; i < p.Discs; i++ {
			base := names.next()
			names.reserve(base + ".cue")
			bin := base + discPlatform.Ext
			mt := drawMtime(r)
			sectors := r.between((p.DiscMin+cdSector-1)/cdSector, p.DiscMax/cdSector)
			cue := fmt.Sprintf("FILE \"%s\" BINARY\r\n  TRACK 01 MODE2/2352\r\n    INDEX 01 00:00:00\r\n", bin)
			lib.Files = append(lib.Files,
				File{Rel: path.Join(discPlatform.Name, bin), Size: sectors * cdSector, ModTime: mt,
					Seed: derive(seed, label("disc"), uint64(i))},
				File{Rel: path.Join(discPlatform.Name, base+".cue"), Size: int64(len(cue)), ModTime: mt,
					Text: []byte(cue)},
			)
		}
	}
	sort.Strings(lib.Folders)
	sort.Slice(lib.Files, func(i, j int) bool { return lib.Files[i].Rel < lib.Files[j].Rel })
	return lib, nil
}

// spread divides total files over n folders with shares varying by ±pct/2
// percent, exactly (largest remainder).
func spread(r *rng, total, n, pct int) []int {
	weights := make([]int64, n)
	var sum int64
	for i := range weights {
		weights[i] = 1000 + int64(r.intn(10*pct+1)) - int64(5*pct)
		sum += weights[i]
	}
	counts := make([]int, n)
	rest := make([]int64, n)
	given := 0
	for i, w := range weights {
		q := int64(total) * w
		counts[i] = int(q / sum)
		rest[i] = q % sum
		given += counts[i]
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rest[order[a]] > rest[order[b]] })
	for i := 0; given < total; i++ {
		counts[order[i%n]]++
		given++
	}
	return counts
}

// draw returns one size in [Min, Max].
func (d SizeDist) draw(r *rng) int64 {
	lo := bits.TrailingZeros64(uint64(d.Min))
	hi := bits.TrailingZeros64(uint64(d.Max))
	if lo == hi {
		return d.Min
	}
	// Octave weights, integer so every platform agrees: w(k+1) = w(k)*Decay/100.
	weights := make([]uint64, hi-lo)
	var total uint64
	w := uint64(1) << 40
	for i := range weights {
		weights[i] = w
		total += w
		w = w * uint64(d.Decay) / 100
		if w == 0 {
			w = 1
		}
	}
	n := r.uint64n(total)
	k := 0
	for ; k < len(weights)-1 && n >= weights[k]; k++ {
		n -= weights[k]
	}
	base := int64(1) << (lo + k)
	if r.chance(d.PowerOfTwoPct) {
		if r.chance(50) {
			return base
		}
		return 2 * base
	}
	return r.between(base, 2*base)
}

// drawMtime returns an mtime in the generation span with a mix of
// sub-second parts: none (40%), whole milliseconds (20%) or any nanosecond.
func drawMtime(r *rng) time.Time {
	sec := int64(r.uint64n(mtimeSpan))
	var ns int64
	switch n := r.intn(100); {
	case n < 40:
	case n < 60:
		ns = int64(r.intn(1000)) * int64(time.Millisecond)
	default:
		ns = int64(r.intn(int(time.Second)))
	}
	return epoch.Add(time.Duration(sec)*time.Second + time.Duration(ns))
}

// folderOf returns the folder part of a slash path.
func folderOf(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}
