package sim

import (
	"math"
	"unsafe"
)

// The wind tunnel: NX×NY×NZ unit cells, the free stream along +x, a
// flat plate across the stream at x = plateX covering
// [plateY0, plateY1)×[plateZ0, plateZ1). SPLASH mp3d's default space
// array is 14×24×7 cells; here the stream runs along the long side.
const (
	nx, ny, nz = 24, 14, 7
	numCells   = nx * ny * nz

	plateX           = 8.0
	plateY0, plateY1 = 4.0, 10.0
	plateZ0, plateZ1 = 1.0, 6.0

	streamU = 0.3  // free-stream velocity, cells per step
	thermal = 0.1  // spread of the thermal velocities
	collide = 0.06 // collision probability per molecule already in the cell
)

var (
	molSize   = int(unsafe.Sizeof(molecule{}))
	cellSize  = int(unsafe.Sizeof(cell{}))
	stateSize = int(unsafe.Sizeof(state{}))
)

// next advances the splitmix64 source at s and returns its next value.
func next(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform is a float64 in [0, 1) from the source at s.
func uniform(s *uint64) float64 { return float64(next(s)>>11) / (1 << 53) }

// normalish is an approximately normal deviate of mean 0 and spread 1
// (the sum of four uniforms, rescaled): cheap and bounded.
func normalish(s *uint64) float64 {
	return (uniform(s) + uniform(s) + uniform(s) + uniform(s) - 2) * math.Sqrt(3)
}

// reservoir gives m a velocity drawn from the free stream.
func reservoir(m *molecule, rng *uint64) {
	m.U = streamU + thermal*normalish(rng)
	m.V = thermal * normalish(rng)
	m.W = thermal * normalish(rng)
}

// place puts the molecules at uniformly random positions in the tunnel,
// with velocities drawn from the free stream.
func place(mols []molecule, rng *uint64) {
	for i := range mols {
		m := &mols[i]
		m.X, m.Y, m.Z = uniform(rng)*nx, uniform(rng)*ny, uniform(rng)*nz
		reservoir(m, rng)
		m.Cell = cellOf(m)
	}
}

// step advances the simulation by one time step: every molecule moves,
// then collides or not with the last molecule placed in its new cell.
func step(mols []molecule, cells []cell, st *state) {
	for i := range cells {
		cells[i].Count, cells[i].Last = 0, 0
	}
	for i := range mols {
		m := &mols[i]
		move(m, st)
		c := &cells[m.Cell]
		if c.Last != 0 && uniform(&st.RNG) < collide*float64(c.Count) {
			collidePair(m, &mols[c.Last-1], &st.RNG)
			c.Collisions++
			st.Collisions++
		}
		c.Last = int32(i + 1)
		c.Count++
		c.SumU += m.U
		c.SumV += m.V
		c.SumW += m.W
		c.SumE += m.U*m.U + m.V*m.V + m.W*m.W
	}
}

// move advances m by its velocity for one step: it reflects off the side
// walls and the plate, and a molecule leaving downstream re-enters
// upstream with a velocity from the reservoir.
func move(m *molecule, st *state) {
	x0 := m.X
	m.X += m.U
	m.Y, m.V = reflect(m.Y+m.V, m.V, ny)
	m.Z, m.W = reflect(m.Z+m.W, m.W, nz)
	if crossesPlate(x0, m) {
		m.X, m.U = 2*plateX-m.X, -m.U
	}
	switch {
	case m.X >= nx:
		m.X -= nx
		reservoir(m, &st.RNG)
		st.Reentries++
	case m.X < 0:
		m.X, m.U = -m.X, -m.U
	}
	m.Cell = cellOf(m)
}

// crossesPlate reports whether m, moving from x0 to m.X, went through
// the plate.
func crossesPlate(x0 float64, m *molecule) bool {
	if (x0 < plateX) == (m.X < plateX) {
		return false
	}
	return m.Y >= plateY0 && m.Y < plateY1 && m.Z >= plateZ0 && m.Z < plateZ1
}

// reflect folds position p back into [0, size) off the walls at 0 and
// size, flipping velocity v at each bounce.
func reflect(p, v, size float64) (float64, float64) {
	for p < 0 || p >= size {
		if p < 0 {
			p = -p
		} else {
			p = 2*size - p
			if p == size { // exactly on the far wall
				p = math.Nextafter(size, 0)
			}
		}
		v = -v
	}
	return p, v
}

// cellOf is the index of the cell m is in.
func cellOf(m *molecule) int32 {
	ix := min(max(int(m.X), 0), nx-1)
	iy := min(max(int(m.Y), 0), ny-1)
	iz := min(max(int(m.Z), 0), nz-1)
	return int32(ix + nx*(iy+ny*iz))
}

// collidePair collides a and b as hard spheres of equal mass: the centre
// of mass keeps its velocity, the relative velocity keeps its magnitude
// and takes a random direction.
func collidePair(a, b *molecule, rng *uint64) {
	cu, cv, cw := (a.U+b.U)/2, (a.V+b.V)/2, (a.W+b.W)/2
	du, dv, dw := a.U-b.U, a.V-b.V, a.W-b.W
	g := math.Sqrt(du*du + dv*dv + dw*dw)
	cosT := 2*uniform(rng) - 1
	sinT := math.Sqrt(1 - cosT*cosT)
	sinP, cosP := math.Sincos(2 * math.Pi * uniform(rng))
	ru, rv, rw := g*sinT*cosP/2, g*sinT*sinP/2, g*cosT/2
	a.U, a.V, a.W = cu+ru, cv+rv, cw+rw
	b.U, b.V, b.W = cu-ru, cv-rv, cw-rw
	a.Collisions++
	b.Collisions++
}
