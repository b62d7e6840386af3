// Ordered stream compaction and radix selection (prepended: common.wgsl, random.wgsl).
//
// The data is cut into blocks of WG * params.items elements, one workgroup each.
// compactAbove:   countBlocks -> scanBlocks -> scatter, with predMode 0 (|u_i| > threshold).
// topk/random:    3 x (radixHistogram, radixSelect) find the k-th largest key K and how many of
//                 its ties to take (kRem); countBlocks counts keys > K and ties per block;
//                 scanBlocks finds the block and rank of the last tie taken and scans the per-block
//                 selection counts; locateTie finds that tie's index; scatter writes the selection
//                 (key > K || (key == K && i <= lastTie)) in ascending index order.
// Output: indices at out[0..count), and, when params.writeValues, value bits at out[valuesOffset..).

// Radix passes over 32-bit keys, most significant digit first: digit = (key >> shift) & mask,
// counted among keys whose already-known high bits equal the prefix found by earlier passes.
const RADIX_SHIFT = array<u32, 3>(21u, 10u, 0u);
const RADIX_DIGIT_BITS = array<u32, 3>(11u, 11u, 10u);
const RADIX_KNOWN_MASK = array<u32, 3>(0u, 0xffe00000u, 0xfffffc00u);
const RADIX_BINS: u32 = 2048u;
// Block counts per thread per tile in the single-workgroup scans.
const SCAN_ITEMS: u32 = 16u;

struct Params {
  n: u32,
  numBlocks: u32,
  // Magnitude threshold bits, -1 admits everything (predMode 0).
  threshold: i32,
  mixedSeed: u32,
  valuesOffset: u32,
  writeValues: u32,
  // Elements per thread.
  items: u32,
  // 0: magnitude bits of data[i]; 1: randomKey(seed, i).
  keyMode: u32,
  // 0: |u_i| > threshold; 1: radix selection.
  predMode: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

struct State {
  // Key bits found so far; after the last pass, the k-th largest key K.
  prefix: u32,
  // How many keys still to take among those matching prefix; after the last pass, ties at K.
  kRem: u32,
  tieBlock: u32,
  tieRank: u32,
  lastTie: u32,
  total: u32,
  // Radix pass about to run (0..2); radixSelect advances it.
  radixPass: u32,
  pad: u32,
}

@group(0) @binding(0) var<storage, read> data: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> state: State;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;
// counts[b]: selected (predMode 0) or greater-than-K (predMode 1) count of block b;
// counts[numBlocks + b]: ties at K in block b (predMode 1).
@group(0) @binding(4) var<storage, read_write> counts: array<u32>;
// Exclusive scan of the per-block selection counts; offsets[numBlocks] is the total.
@group(0) @binding(5) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<u32>;

var<workgroup> scanBuf: array<u32, WG>;
var<workgroup> wgHist: array<atomic<u32>, RADIX_BINS>;
var<workgroup> wgCount: array<atomic<u32>, 2>;
var<workgroup> wgTie: vec2<u32>;

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
fn radixHistogram(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  if (g >= params.numBlocks) {
    return;
  }
  for (var b = lid; b < RADIX_BINS; b += WG) {
    atomicStore(&wgHist[b], 0u);
  }
  workgroupBarrier();
  let n = params.n;
  let prefix = state.prefix;
  let p = min(state.radixPass, 2u);
  let shift = RADIX_SHIFT[p];
  let known = RADIX_KNOWN_MASK[p];
  let digitMask = (1u << RADIX_DIGIT_BITS[p]) - 1u;
  let region = p * RADIX_BINS;
  let base = g * WG * params.items;
  for (var j = 0u; j < params.items; j++) {
    let i = base + j * WG + lid;
    if (i < n) {
      let key = keyAt(i);
      if ((key & known) == prefix) {
        atomicAdd(&wgHist[(key >> shift) & digitMask], 1u);
      }
    }
  }
  workgroupBarrier();
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
  let kRem = state.kRem;
  let p = min(state.radixPass, 2u);
  let region = p * RADIX_BINS;
  let per = RADIX_BINS / WG;
  // Thread lid covers digits RADIX_BINS-1 - lid*per down to RADIX_BINS - (lid+1)*per.
  var sum = 0u;
  for (var j = 0u; j < per; j++) {
    sum += atomicLoad(&hist[region + RADIX_BINS - 1u - (lid * per + j)]);
  }
  let scan = workgroupScan(lid, sum);
  storageBarrier();
  if (scan.x < kRem && kRem <= scan.x + sum) {
    var cum = scan.x;
    for (var j = 0u; j < per; j++) {
      let digit = RADIX_BINS - 1u - (lid * per + j);
      let h = atomicLoad(&hist[region + digit]);
      if (cum + h >= kRem) {
        state.prefix = state.prefix | (digit << RADIX_SHIFT[p]);
        state.kRem = kRem - cum;
        state.radixPass = p + 1u;
        break;
      }
      cum += h;
    }
  }
}

@compute @workgroup_size(WG)
fn countBlocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  if (g >= params.numBlocks) {
    return;
  }
  if (lid < 2u) {
    atomicStore(&wgCount[lid], 0u);
  }
  workgroupBarrier();
  let n = params.n;
  let base = g * WG * params.items;
  var above = 0u;
  var ties = 0u;
  if (params.predMode == 0u) {
    let t = params.threshold;
    for (var j = 0u; j < params.items; j++) {
      let i = base + j * WG + lid;
      if (i < n && i32(magnitudeKey(data[i])) > t) {
        above++;
      }
    }
  } else {
    let K = state.prefix;
    for (var j = 0u; j < params.items; j++) {
      let i = base + j * WG + lid;
      if (i < n) {
        let key = keyAt(i);
        above += select(0u, 1u, key > K);
        ties += select(0u, 1u, key == K);
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
    if (params.predMode == 1u) {
      counts[params.numBlocks + g] = atomicLoad(&wgCount[1]);
    }
  }
}

// One workgroup: exclusive scan of the per-block selection counts into offsets.
@compute @workgroup_size(WG)
fn scanBlocks(@builtin(local_invocation_index) lid: u32) {
  let nb = params.numBlocks;
  let tile = WG * SCAN_ITEMS;
  let scanTiles = (nb + tile - 1u) / tile;
  var tieBlock = 0xffffffffu;
  var tieRank = 0u;
  if (params.predMode == 1u) {
    // The block holding the kRem-th tie (in index order) and its rank there.
    let kRem = state.kRem;
    if (lid == 0u) {
      wgTie = vec2<u32>(0xffffffffu, 0u);
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
    if (params.predMode == 1u) {
      state.tieBlock = tieBlock;
      state.tieRank = tieRank;
    }
  }
}

fn selectedIn(b: u32, nb: u32, tieBlock: u32, tieRank: u32) -> u32 {
  if (params.predMode == 0u) {
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

// One workgroup over block tieBlock: the index of its tieRank-th key equal to K.
@compute @workgroup_size(WG)
fn locateTie(@builtin(local_invocation_index) lid: u32) {
  let K = state.prefix;
  let rank = state.tieRank;
  let n = params.n;
  let start = state.tieBlock * WG * params.items + lid * params.items;
  var local = 0u;
  for (var j = 0u; j < params.items; j++) {
    let i = start + j;
    if (i < n && keyAt(i) == K) {
      local++;
    }
  }
  let scan = workgroupScan(lid, local);
  if (scan.x < rank && rank <= scan.x + local) {
    var run = scan.x;
    for (var j = 0u; j < params.items; j++) {
      let i = start + j;
      if (i < n && keyAt(i) == K) {
        run++;
        if (run == rank) {
          state.lastTie = i;
        }
      }
    }
  }
}

fn selected(i: u32, K: u32, lastTie: u32) -> bool {
  if (params.predMode == 0u) {
    return i32(magnitudeKey(data[i])) > params.threshold;
  }
  let key = keyAt(i);
  return key > K || (key == K && i <= lastTie);
}

@compute @workgroup_size(WG)
fn scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  if (g >= params.numBlocks) {
    return;
  }
  var K = 0u;
  var lastTie = 0u;
  if (params.predMode == 1u) {
    K = state.prefix;
    lastTie = state.lastTie;
  }
  let n = params.n;
  let start = g * WG * params.items + lid * params.items;
  var local = 0u;
  for (var j = 0u; j < params.items; j++) {
    let i = start + j;
    if (i < n && selected(i, K, lastTie)) {
      local++;
    }
  }
  let scan = workgroupScan(lid, local);
  if (local == 0u) {
    return;
  }
  var o = offsets[g] + scan.x;
  let writeValues = params.writeValues != 0u;
  for (var j = 0u; j < params.items; j++) {
    let i = start + j;
    if (i < n && selected(i, K, lastTie)) {
      out[o] = i;
      if (writeValues) {
        out[params.valuesOffset + o] = data[i];
      }
      o++;
    }
  }
}
