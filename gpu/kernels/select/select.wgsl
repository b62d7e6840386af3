// Ordered stream compaction and radix selection with candidate filtering (prepended:
// common.wgsl, random.wgsl; appended: decide.wgsl).
//
// The data is cut into blocks of WG * params.items elements, one workgroup each. INDIRECT = 1
// runs a kernel over the candidate list cand[0..state.candidates) instead of 0..params.n, with
// as many blocks as state.candidateBlocks (dispatched indirectly from state.args).
//
// compactAbove (PRED 0): countBlocks -> scanBlocks -> scatter of |u_i| > params.threshold.
// Selection (the k largest keys, or every key above a threshold the GPU decided):
//   1. radixHistogram + radixSelect over all of d: the top 11-bit digit D of the k-th largest
//      key; keys whose digit is >= D are the candidates (state.floor = D << 21). When D's bucket
//      holds exactly the keys still needed, the selection is decided (state.done).
//   2. countBlocks, scanBlocks, scatter with PRED 2: the candidates, in index order, into cand;
//      plan sizes the candidate passes (state.args).
//   3. INDIRECT: radixHistogram + radixSelect for the 11 and 10 low bits over the candidates
//      only, skipped once state.done; then countBlocks, scanBlocks, locateTie, scatter with
//      PRED 1 write the selection, key > K plus the first kRem keys == K in index order, to out.
// Output: indices at out[0..min(total, capacity)), and, when params.writeValues, value bits at
// out[capacity..). state.total is the selection's size (> capacity: it did not fit).

// Radix passes over 32-bit keys, most significant digit first: digit = (key >> shift) & mask,
// counted among keys whose already-known high bits equal the prefix found by earlier passes.
const RADIX_SHIFT = array<u32, 3>(21u, 10u, 0u);
const RADIX_DIGIT_BITS = array<u32, 3>(11u, 11u, 10u);
const RADIX_KNOWN_MASK = array<u32, 3>(0u, 0xffe00000u, 0xfffffc00u);
const RADIX_BINS: u32 = 2048u;
// Block counts per thread per tile in the single-workgroup scans.
const SCAN_ITEMS: u32 = 16u;
// kRem: take every key equal to K; tieBlock: no block holds the last tie taken.
const ALL: u32 = 0xffffffffu;

// 0: |u_i| > params.threshold; 1: the selection (key > K, ties at K); 2: candidates (key >= floor).
override PRED: u32 = 0u;
// 1: over the candidate list (see above).
override INDIRECT: u32 = 0u;

struct Params {
  n: u32,
  numBlocks: u32,
  // Magnitude threshold bits, -1 admits everything (PRED 0).
  threshold: i32,
  mixedSeed: u32,
  // Most indices the output holds; value bits start there.
  capacity: u32,
  writeValues: u32,
  // Elements per thread.
  items: u32,
  // 0: magnitude bits of data[i]; 1: randomKey(seed, i).
  keyMode: u32,
  // 1: radixHistogram's first pass notes the first NaN/Inf of data in state.firstNonFinite.
  checkFinite: u32,
  // 1: stop the radix passes once a digit's bucket holds exactly the keys still needed.
  earlyStop: u32,
  maxWorkgroupsPerDimension: u32,
  // decide.wgsl: k, DGC_k's sample size, how many of state.thresholds countThresholds counts
  // (at most 4), and the normal quantile of Gaussian_k as a float-float.
  k: u32,
  sampleSize: u32,
  numThresholds: u32,
  zHi: f32,
  zLo: f32,
  // Most candidates cand holds; when there are more, the candidate passes run over all of d.
  candidateCapacity: u32,
  pad1: u32,
  pad2: u32,
  pad3: u32,
}

// Read back whole by the host: keep in step with SelectionState in deviceSelection.ts.
struct State {
  // Key bits found so far by the radix passes.
  prefix: u32,
  // Keys still to take among those matching prefix.
  kRem: u32,
  // Once done: select every key > K and the first kRem (ALL: every) key == K.
  K: u32,
  tieBlock: u32,
  tieRank: u32,
  // Ties at K with an index below tieEnd are taken.
  tieEnd: u32,
  // Size of the last scan: candidates (PRED 2) or the selection (PRED 1).
  total: u32,
  // Radix pass about to run (0..2); radixSelect advances it.
  radixPass: u32,
  done: u32,
  // Candidates are the keys >= floor.
  floor: u32,
  candidates: u32,
  candidateBlocks: u32,
  // Indirect dispatch arguments of the candidate passes (copied out by the host's encoder).
  args: array<u32, 3>,
  firstNonFinite: atomic<u32>,
  // decide.wgsl: thresholds (float bits) and their counts.
  thresholds: array<u32, 4>,
  thresholdCounts: array<atomic<u32>, 4>,
  // 1: the candidates did not fit cand, so the INDIRECT kernels run over 0..params.n.
  allOfD: u32,
  pad: array<u32, 7>,
}

@group(0) @binding(0) var<storage, read> data: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> state: State;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;
// counts[b]: selected or candidate (or greater-than-K, PRED 1) count of block b;
// counts[numBlocks + b]: ties at K in block b (PRED 1).
@group(0) @binding(4) var<storage, read_write> counts: array<u32>;
// Exclusive scan of the per-block counts; offsets[numBlocks] is the total.
@group(0) @binding(5) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<u32>;
// Candidate indices in ascending order (or DGC_k's sample, decide.wgsl).
@group(0) @binding(7) var<storage, read_write> cand: array<u32>;
// Read-only input of decide.wgsl: moments' result words, or the sample selection's state.
@group(0) @binding(8) var<storage, read> aux: array<u32>;

var<workgroup> scanBuf: array<u32, WG>;
var<workgroup> wgHist: array<atomic<u32>, RADIX_BINS>;
var<workgroup> wgCount: array<atomic<u32>, 2>;
var<workgroup> wgTie: vec2<u32>;
var<workgroup> wgUniform: vec4<u32>;

// (blockCount, elementCount, done, radixPass) as uniform values for the whole workgroup: state
// lives in read_write storage, which the uniformity analysis cannot trust. Call first.
fn uniformState(lid: u32) -> vec4<u32> {
  if (lid == 0u) {
    wgUniform = vec4<u32>(blockCount(), elementCount(), state.done, state.radixPass);
  }
  return workgroupUniformLoad(&wgUniform);
}

fn elementCount() -> u32 {
  if (INDIRECT == 1u) {
    return state.candidates;
  }
  return params.n;
}

fn blockCount() -> u32 {
  if (INDIRECT == 1u) {
    return state.candidateBlocks;
  }
  return params.numBlocks;
}

// The coordinate of element j of the kernel's range.
fn indexAt(j: u32) -> u32 {
  if (INDIRECT == 1u && state.allOfD == 0u) {
    return cand[j];
  }
  return j;
}

fn keyAt(i: u32) -> u32 {
  if (params.keyMode == 0u) {
    return magnitudeKey(data[i]);
  }
  return randomKeyMixed(params.mixedSeed, i);
}

// Exclusive prefix sum of v over the workgroup (x) and the workgroup total (y).
// Must be called from uniform control flow.
fn workgroupScan(lid: u32, v: u32) -> vec2<u32> {
  scanBuf[lid] = v;
  workgroupBarrier();
  for (var o = 1u; o < WG; o <<= 1u) {
    var t = 0u;
    if (lid >= o) {
      t = scanBuf[lid - o];
    }
    workgroupBarrier();
    scanBuf[lid] += t;
    workgroupBarrier();
  }
  let inclusive = scanBuf[lid];
  let total = scanBuf[WG - 1u];
  workgroupBarrier();
  return vec2<u32>(inclusive - v, total);
}

@compute @workgroup_size(WG)
fn radixHistogram(wg: Workgroup, @builtin(local_invocation_index) lid: u32) {
  let g = blockOf(wg);
  let view = uniformState(lid);
  let done = view.z != 0u;
  let checkFinite = INDIRECT == 0u && params.checkFinite != 0u && view.w == 0u;
  if (g >= view.x || (done && !checkFinite)) {
    return;
  }
  for (var b = lid; b < RADIX_BINS; b += WG) {
    atomicStore(&wgHist[b], 0u);
  }
  workgroupBarrier();
  let n = view.y;
  let prefix = state.prefix;
  let p = min(view.w, 2u);
  let shift = RADIX_SHIFT[p];
  let known = RADIX_KNOWN_MASK[p];
  let digitMask = (1u << RADIX_DIGIT_BITS[p]) - 1u;
  let count = !done;
  let base = g * WG * params.items;
  for (var j = 0u; j < params.items; j++) {
    let e = base + j * WG + lid;
    if (e < n) {
      let i = indexAt(e);
      if (checkFinite && isNonFinite(data[i])) {
        atomicMin(&state.firstNonFinite, i);
      }
      let key = keyAt(i);
      if (count && (key & known) == prefix) {
        atomicAdd(&wgHist[(key >> shift) & digitMask], 1u);
      }
    }
  }
  workgroupBarrier();
  let region = p * RADIX_BINS;
  for (var b = lid; b < RADIX_BINS; b += WG) {
    let c = atomicLoad(&wgHist[b]);
    if (c != 0u) {
      atomicAdd(&hist[region + b], c);
    }
  }
}

// One workgroup: the digit of the kRem-th largest key among those matching the prefix.
@compute @workgroup_size(WG)
fn radixSelect(@builtin(local_invocation_index) lid: u32) {
  let view = uniformState(lid);
  if (view.z != 0u) {
    return;
  }
  let kRem = state.kRem;
  let p = min(view.w, 2u);
  let region = p * RADIX_BINS;
  let per = RADIX_BINS / WG;
  // Thread lid covers digits RADIX_BINS-1 - lid*per down to RADIX_BINS - (lid+1)*per.
  var sum = 0u;
  for (var j = 0u; j < per; j++) {
    sum += atomicLoad(&hist[region + RADIX_BINS - 1u - (lid * per + j)]);
  }
  let scan = workgroupScan(lid, sum);
  if (scan.x < kRem && kRem <= scan.x + sum) {
    var cum = scan.x;
    for (var j = 0u; j < per; j++) {
      let digit = RADIX_BINS - 1u - (lid * per + j);
      let h = atomicLoad(&hist[region + digit]);
      if (cum + h >= kRem) {
        let prefix = state.prefix | (digit << RADIX_SHIFT[p]);
        let left = kRem - cum;
        state.prefix = prefix;
        state.kRem = left;
        state.radixPass = p + 1u;
        if (p == 0u) {
          state.floor = prefix;
        }
        if (p == 2u) {
          state.K = prefix;
          state.done = 1u;
        } else if (left == h && params.earlyStop != 0u) {
          // The whole bucket is taken: every key >= prefix.
          if (prefix == 0u) {
            state.K = 0u;
            state.kRem = ALL;
          } else {
            state.K = prefix - 1u;
            state.kRem = 0u;
          }
          state.done = 1u;
        }
        break;
      }
      cum += h;
    }
  }
}

// Whether element i (a coordinate) is in the kernel's output, for PRED 0 and 1.
fn selected(i: u32, K: u32, tieEnd: u32) -> bool {
  if (PRED == 0u) {
    return i32(magnitudeKey(data[i])) > params.threshold;
  }
  let key = keyAt(i);
  if (PRED == 2u) {
    return key >= K;
  }
  return key > K || (key == K && i < tieEnd);
}

@compute @workgroup_size(WG)
fn countBlocks(wg: Workgroup, @builtin(local_invocation_index) lid: u32) {
  let g = blockOf(wg);
  let view = uniformState(lid);
  let nb = view.x;
  if (g >= nb) {
    return;
  }
  if (lid < 2u) {
    atomicStore(&wgCount[lid], 0u);
  }
  workgroupBarrier();
  let n = view.y;
  let base = g * WG * params.items;
  var above = 0u;
  var ties = 0u;
  var K = state.K;
  if (PRED == 2u) {
    K = state.floor;
  }
  for (var j = 0u; j < params.items; j++) {
    let e = base + j * WG + lid;
    if (e < n) {
      let i = indexAt(e);
      if (PRED == 1u) {
        let key = keyAt(i);
        above += select(0u, 1u, key > K);
        ties += select(0u, 1u, key == K);
      } else {
        above += select(0u, 1u, selected(i, K, 0u));
      }
    }
  }
  if (above != 0u) {
    atomicAdd(&wgCount[0], above);
  }
  if (ties != 0u) {
    atomicAdd(&wgCount[1], ties);
  }
  workgroupBarrier();
  if (lid == 0u) {
    counts[g] = atomicLoad(&wgCount[0]);
    if (PRED == 1u) {
      counts[nb + g] = atomicLoad(&wgCount[1]);
    }
  }
}

// One workgroup: exclusive scan of the per-block selection counts into offsets.
@compute @workgroup_size(WG)
fn scanBlocks(@builtin(local_invocation_index) lid: u32) {
  let nb = uniformState(lid).x;
  let tile = WG * SCAN_ITEMS;
  let scanTiles = (nb + tile - 1u) / tile;
  var tieBlock = ALL;
  var tieRank = 0u;
  if (PRED == 1u) {
    // The block holding the kRem-th tie (in index order) and its rank there.
    let kRem = state.kRem;
    if (lid == 0u) {
      wgTie = vec2<u32>(select(ALL, 0u, kRem == 0u), 0u);
    }
    workgroupBarrier();
    var carry = 0u;
    for (var t = 0u; t < scanTiles; t++) {
      let start = t * tile + lid * SCAN_ITEMS;
      var local = 0u;
      for (var j = 0u; j < SCAN_ITEMS; j++) {
        if (start + j < nb) {
          local += counts[nb + start + j];
        }
      }
      let scan = workgroupScan(lid, local);
      let before = carry + scan.x;
      if (before < kRem && kRem <= before + local) {
        var run = before;
        for (var j = 0u; j < SCAN_ITEMS; j++) {
          if (start + j < nb) {
            let c = counts[nb + start + j];
            if (run < kRem && kRem <= run + c) {
              wgTie = vec2<u32>(start + j, kRem - run);
            }
            run += c;
          }
        }
      }
      carry += scan.y;
    }
    workgroupBarrier();
    tieBlock = wgTie.x;
    tieRank = wgTie.y;
  }
  var carry = 0u;
  for (var t = 0u; t < scanTiles; t++) {
    let start = t * tile + lid * SCAN_ITEMS;
    var local = 0u;
    for (var j = 0u; j < SCAN_ITEMS; j++) {
      let b = start + j;
      if (b < nb) {
        local += selectedIn(b, nb, tieBlock, tieRank);
      }
    }
    let scan = workgroupScan(lid, local);
    var run = carry + scan.x;
    for (var j = 0u; j < SCAN_ITEMS; j++) {
      let b = start + j;
      if (b < nb) {
        offsets[b] = run;
        run += selectedIn(b, nb, tieBlock, tieRank);
      }
    }
    carry += scan.y;
  }
  if (lid == 0u) {
    offsets[nb] = carry;
    state.total = carry;
    if (PRED == 1u) {
      state.tieBlock = tieBlock;
      state.tieRank = tieRank;
    }
  }
}

fn selectedIn(b: u32, nb: u32, tieBlock: u32, tieRank: u32) -> u32 {
  if (PRED != 1u) {
    return counts[b];
  }
  var ties = 0u;
  if (b < tieBlock) {
    ties = counts[nb + b];
  } else if (b == tieBlock) {
    ties = tieRank;
  }
  return counts[b] + ties;
}

// One workgroup over block tieBlock: one past the index of its tieRank-th key equal to K.
@compute @workgroup_size(WG)
fn locateTie(@builtin(local_invocation_index) lid: u32) {
  let n = uniformState(lid).y;
  if (lid == 0u) {
    wgTie = vec2<u32>(state.tieBlock, state.tieRank);
  }
  let tie = workgroupUniformLoad(&wgTie);
  let tieBlock = tie.x;
  let rank = tie.y;
  if (tieBlock == ALL || rank == 0u) {
    if (lid == 0u) {
      state.tieEnd = select(0u, ALL, tieBlock == ALL);
    }
    return;
  }
  let K = state.K;
  let start = tieBlock * WG * params.items + lid * params.items;
  var local = 0u;
  for (var j = 0u; j < params.items; j++) {
    let e = start + j;
    if (e < n && keyAt(indexAt(e)) == K) {
      local++;
    }
  }
  let scan = workgroupScan(lid, local);
  if (scan.x < rank && rank <= scan.x + local) {
    var run = scan.x;
    for (var j = 0u; j < params.items; j++) {
      let e = start + j;
      if (e < n) {
        let i = indexAt(e);
        if (keyAt(i) == K) {
          run++;
          if (run == rank) {
            state.tieEnd = i + 1u;
          }
        }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn scatter(wg: Workgroup, @builtin(local_invocation_index) lid: u32) {
  let g = blockOf(wg);
  let view = uniformState(lid);
  if (g >= view.x) {
    return;
  }
  var K = state.K;
  var tieEnd = state.tieEnd;
  if (PRED == 2u) {
    K = state.floor;
  }
  let n = view.y;
  let start = g * WG * params.items + lid * params.items;
  var local = 0u;
  for (var j = 0u; j < params.items; j++) {
    let e = start + j;
    if (e < n && selected(indexAt(e), K, tieEnd)) {
      local++;
    }
  }
  let scan = workgroupScan(lid, local);
  if (local == 0u) {
    return;
  }
  var o = offsets[g] + scan.x;
  let writeValues = params.writeValues != 0u;
  let capacity = params.capacity;
  for (var j = 0u; j < params.items; j++) {
    let e = start + j;
    if (e < n) {
      let i = indexAt(e);
      if (selected(i, K, tieEnd)) {
        if (PRED == 2u) {
          if (o < params.candidateCapacity) {
            cand[o] = i;
          }
        } else if (o < capacity) {
          out[o] = i;
          if (writeValues) {
            out[capacity + o] = data[i];
          }
        }
        o++;
      }
    }
  }
}

// One thread: the candidate passes' size and indirect dispatch arguments (after PRED 2's scan);
// all of d when the candidates did not fit.
@compute @workgroup_size(1)
fn plan() {
  var candidates = state.total;
  if (candidates > params.candidateCapacity) {
    candidates = params.n;
    state.allOfD = 1u;
  }
  let blocks = (candidates + WG * params.items - 1u) / (WG * params.items);
  let x = min(blocks, params.maxWorkgroupsPerDimension);
  state.candidates = candidates;
  state.candidateBlocks = blocks;
  state.args[0] = x;
  state.args[1] = select(0u, (blocks + x - 1u) / max(x, 1u), blocks > 0u);
  state.args[2] = 1u;
}
