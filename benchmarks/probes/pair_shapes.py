"""One-off probe (issue 17 item 2): which cheaper pair shapes keep the full ones' accuracy?

Batch LDA on all of Fashion-MNIST (riscmoe's random-convolution features, F = 2,304), close
calls (top two within 10 nats) settled by approximations of the pair's covariance. Run from the
repository root (about 5 minutes, 3 GB)::

    python benchmarks/probes/pair_shapes.py features fashion-mnist     # writes /tmp/riscmoe-probe/fashion-mnist.npz
    python benchmarks/probes/pair_shapes.py subspace fashion-mnist 128,384       # full, top/bottom-k, whitened, reservoir RDA
    python benchmarks/probes/pair_shapes.py block fashion-mnist 256,512,768      # top-k block of the shared eigenbasis, float16
    python benchmarks/probes/pair_shapes.py deviation fashion-mnist 16,64,128    # low-rank whitened deviation of each class
    python benchmarks/probes/pair_shapes.py diagonal fashion-mnist 0,64,256,512  # top-k block plus the rest's diagonal
    python benchmarks/probes/pair_shapes.py early fashion-mnist 512,768 0,1 0,1,2,3 0,1,2,3,4,5,6,7,8,9  # basis fixed early
    python benchmarks/probes/pair_shapes.py stream fashion-mnist 512 4       # blocks carried from basis to basis in a stream

Figures are in BENCHMARKS.md ("Memory per member, second try").
"""
import sys

MODE = sys.argv.pop(1)
if MODE == 'features':
    exec('import os, numpy as np, torch, sys, time\nos.makedirs("/tmp/riscmoe-probe", exist_ok=True)\ntorch.set_num_threads(2)\nfrom riscmoe.datasets import load_dataset\nfrom riscmoe.encoders.random_features import make_encoder\nname = sys.argv[1]\nds = load_dataset(name)\nprint({k: getattr(ds, k).shape for k in vars(ds) if hasattr(getattr(ds, k), \'shape\')})\nenc = make_encoder(tuple(ds.X_train.shape[1:]), seed=0)\ndef f(X):\n    out = []\n    for s in range(0, len(X), 2048):\n        out.append(enc(torch.as_tensor(X[s:s+2048])).float())\n    return torch.cat(out).numpy()\nt = time.time()\nnp.savez(f"/tmp/riscmoe-probe/{name}.npz", Ztr=f(ds.X_train), ytr=ds.y_train, Zte=f(ds.X_test), yte=ds.y_test)\nprint("done", time.time() - t)\n')
    sys.exit(0)
exec('import numpy as np, torch, sys, time\ntorch.set_num_threads(2)\nd = np.load(f"/tmp/riscmoe-probe/{sys.argv[1]}.npz")\nZtr, ytr, Zte, yte = [torch.from_numpy(d[k]) for k in ("Ztr","ytr","Zte","yte")]\nZtr = Ztr.double(); Zte = Zte.double()\nC = int(ytr.max()) + 1; F = Ztr.shape[1]\ncenter = Ztr.mean(0); Ztr -= center; Zte -= center\nmeans = torch.stack([Ztr[ytr == c].mean(0) for c in range(C)])\ncounts = torch.tensor([(ytr == c).sum() for c in range(C)]).double()\nscat = []\nfor c in range(C):\n    X = Ztr[ytr == c] - means[c]\n    scat.append(X.T @ X)\nS_sum = sum(scat)\ndef shrunk(Ssum, n, m, a0=1e-4):\n    alpha = a0 + (1 - a0) * (F / (n + F)) ** 2 * 0.002\n    dof = max(n - m, 1.0)\n    cov = Ssum * ((1 - alpha) / dof)\n    cov.diagonal().add_(alpha * float(torch.trace(Ssum)) / dof / F)\n    return cov\nS = shrunk(S_sum, float(counts.sum()), C)\nW = torch.linalg.solve(S, means.T)  # F, C\nb = -0.5 * (means * W.T).sum(1)\ns = Zte @ W + b\nacc0 = (s.argmax(1) == yte).double().mean().item()\nprint("shared", acc0)\ntop = s.topk(2, 1)\nclose = torch.nonzero(top.values[:, 0] - top.values[:, 1] < 10).squeeze(1)\nprint("close", len(close))\npairs = sorted({(min(a, b_), max(a, b_)) for a, b_ in zip(top.indices[close, 0].tolist(), top.indices[close, 1].tolist())})\nprint("pairs", len(pairs))\ndef evaluate(covfn, label):\n    t = time.time()\n    pred = s.argmax(1).clone()\n    for a, bb in pairs:\n        cov = covfn(a, bb)\n        w = torch.linalg.solve(cov, means[a] - means[bb])\n        off = (w * (means[a] + means[bb])).sum() / 2\n        rows = close[((top.indices[close, 0] == a) & (top.indices[close, 1] == bb)) | ((top.indices[close, 0] == bb) & (top.indices[close, 1] == a))]\n        llr = Zte[rows] @ w - off\n        pred[rows] = torch.where(llr > 0, torch.tensor(a), torch.tensor(bb))\n    print(f"{label}: {(pred == yte).double().mean().item()*100:.2f}  ({time.time()-t:.1f}s)", flush=True)\nfull = lambda a, bb: shrunk(scat[a] + scat[bb], float(counts[a] + counts[bb]), 2)\nevaluate(full, "full pair")\n#.double() + scat[bb].half().double()), float(counts[a] + counts[bb]), 2), "float16 scatters")\n')
if MODE == 'subspace':
    exec('ev, U = torch.linalg.eigh(S)\ndef sub(Uk):\n    def f(a, bb):\n        Cab = full(a, bb)\n        P = Uk.T @ Cab @ Uk - Uk.T @ S @ Uk\n        return S + Uk @ P @ Uk.T\n    return f\nfor k in [int(x) for x in sys.argv[2].split(",")]:\n    evaluate(sub(U[:, -k:]), f"top-{k} of shared")\n    evaluate(sub(U[:, :k]), f"bottom-{k} of shared")\n    # whitened deviation directions (global): sum over classes of (L^-1 C_a L^-T - I)^2\n    L = torch.linalg.cholesky(S)\n    D = torch.zeros(F, F, dtype=torch.float64)\n    for c in range(C):\n        Cc = shrunk(scat[c], float(counts[c]), 1)\n        Wc = torch.linalg.solve_triangular(L, torch.linalg.solve_triangular(L, Cc, upper=False).T, upper=False)\n        Dc = Wc - torch.eye(F, dtype=torch.float64)\n        D += Dc @ Dc\n    e2, V2 = torch.linalg.eigh(D)\n    Vk = V2[:, -k:]\n    # back to raw coords: subspace L Vk, orthonormalised\n    Q, _ = torch.linalg.qr(L @ Vk)\n    evaluate(sub(Q), f"whitened-deviation-{k}")\n# reservoir samples\ng = torch.Generator().manual_seed(0)\nfor r, lam in [(256, 0.3), (256, 0.6), (512, 0.3)]:\n    samp = {}\n    for c in range(C):\n        idx = torch.nonzero(ytr == c).squeeze(1)\n        X = Ztr[idx[torch.randperm(len(idx), generator=g)[:r]]] - means[c]\n        samp[c] = X\n    def rda(a, bb):\n        X = torch.cat([samp[a], samp[bb]])\n        Cs = X.T @ X / len(X)\n        return (1 - lam) * Cs + lam * S\n    evaluate(rda, f"reservoir {r} rda {lam}")\n')
if MODE == 'block':
    exec('ev, U = torch.linalg.eigh(S)\ndef sub(Uk, half=False, compdiag=False):\n    def f(a, bb):\n        Ta = Uk.T @ scat[a] @ Uk; Tb = Uk.T @ scat[bb] @ Uk\n        if half:\n            Ta = (Ta / counts[a]).half().double() * counts[a]; Tb = (Tb / counts[bb]).half().double() * counts[bb]\n        n = float(counts[a] + counts[bb])\n        # the pair\'s shrunk covariance restricted to U, using the exact trace (kept per member: a scalar)\n        alpha = 1e-4 + (1 - 1e-4) * (F / (n + F)) ** 2 * 0.002\n        dof = n - 2\n        tr = float(torch.trace(scat[a] + scat[bb]))\n        Cu = (Ta + Tb) * ((1 - alpha) / dof) + torch.eye(Uk.shape[1], dtype=torch.float64) * (alpha * tr / dof / F)\n        P = Cu - Uk.T @ S @ Uk\n        return S + Uk @ P @ Uk.T\n    return f\nfor k in [int(x) for x in sys.argv[2].split(",")]:\n    evaluate(sub(U[:, -k:]), f"top-{k} of shared")\n    evaluate(sub(U[:, -k:], half=True), f"top-{k} of shared, float16")\n')
if MODE == 'deviation':
    exec('L = torch.linalg.cholesky(S)\nLinv = torch.linalg.inv(L)\nks = [int(x) for x in sys.argv[2].split(",")]\ndev = {}\nfor c in range(C):\n    Cc = scat[c] / (counts[c] - 1)\n    Wc = Linv @ Cc @ Linv.T - torch.eye(F, dtype=torch.float64)\n    e, V = torch.linalg.eigh(Wc)\n    dev[c] = (e, V)\n    print(c, "eig range", e[:3].tolist(), e[-3:].tolist(), flush=True)\nfor k in ks:\n    for mode in ("abs", "top"):\n        approx = {}\n        for c in range(C):\n            e, V = dev[c]\n            idx = e.abs().argsort(descending=True)[:k] if mode == "abs" else torch.arange(F - k, F)\n            approx[c] = (L @ V[:, idx]) @ torch.diag(e[idx]) @ (L @ V[:, idx]).T\n        def f(a, bb):\n            n = counts[a] + counts[bb]\n            return S + (counts[a] * approx[a] + counts[bb] * approx[bb]) / n\n        evaluate(f, f"whitened deviation rank {k} ({mode})")\n')
if MODE == 'diagonal':
    exec('ev, U = torch.linalg.eigh(S)\nU = U.flip(1)  # descending\nrot = {c: U.T @ scat[c] @ U for c in range(C)}\nfor k in [int(x) for x in sys.argv[2].split(",")]:\n    def f(a, bb, k=k):\n        n = float(counts[a] + counts[bb])\n        R = rot[a] + rot[bb]\n        alpha = 1e-4 + (1 - 1e-4) * (F / (n + F)) ** 2 * 0.002\n        dof = n - 2\n        tr = float(torch.trace(R))\n        M_ = torch.diag(torch.diagonal(R).clone())\n        M_[:k, :k] = R[:k, :k]\n        cov = M_ * ((1 - alpha) / dof)\n        cov.diagonal().add_(alpha * tr / dof / F)\n        return U @ cov @ U.T\n    evaluate(f, f"top-{k} block + rest diagonal in shared eigenbasis")\n')
if MODE == 'early':
    # The top-k block in a basis fixed early: the eigenvectors of the pooled within-class
    # scatter of the first classes only (as a stream would have it when its first member
    # needs a pair shape), float16 covariances. Args: ks, then class sets "0,1" "0,1,2,3".
    ks = [int(x) for x in sys.argv[2].split(",")]
    for subset in sys.argv[3:]:
        cls = [int(c) for c in subset.split(",")]
        Ssub = sum(scat[c] for c in cls)
        _, Usub = torch.linalg.eigh(Ssub)
        for k in ks:
            Uk = Usub[:, -k:]
            def f(a, bb, Uk=Uk):
                Ta = (Uk.T @ scat[a] @ Uk / counts[a]).half().double() * counts[a]
                Tb = (Uk.T @ scat[bb] @ Uk / counts[bb]).half().double() * counts[bb]
                n = float(counts[a] + counts[bb])
                alpha = 1e-4 + (1 - 1e-4) * (F / (n + F)) ** 2 * 0.002
                dof = n - 2
                tr = float(torch.trace(scat[a] + scat[bb]))
                Cu = (Ta + Tb) * ((1 - alpha) / dof) + torch.eye(k, dtype=torch.float64) * (alpha * tr / dof / F)
                return S + Uk @ (Cu - Uk.T @ S @ Uk) @ Uk.T
            evaluate(f, f"top-{k} block, basis from classes {subset}, float16")
if MODE == 'stream':
    # A stream's view of the top-k block: classes arrive two at a time, in chunks; after each
    # chunk the shared covariance is refitted and its top-k eigenbasis taken again, and every
    # member's block (k x k, the scatter of its rows in the basis) is carried into the new
    # basis by modelling the member's scatter outside the old basis by the shared covariance
    # (B' = R^T B R + n C, R = U_old^T U_new, one C for all members); a chunk's rows are added
    # in the basis of their time. The pair covariance is block diagonal in [U, U_perp]:
    # U Cu U^T + P_perp S P_perp (always positive definite, whatever the basis).
    # Args: ks, chunks per class.
    ks = [int(x) for x in sys.argv[2].split(",")]
    chunks = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    groups = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    idx_c = {c: torch.nonzero(ytr == c).squeeze(1) for c in range(C)}
    parts = {c: torch.tensor_split(idx_c[c], chunks) for c in range(C)}
    for k in ks:
        t0 = time.time()
        blocks, cnt, mu, trc = {}, {}, {}, {}
        Ssum = torch.zeros(F, F, dtype=torch.float64); nsum = 0.0
        U = None
        steps = 0
        for g in groups:
            for j in range(chunks):
                # the chunk's rows (class means move: Chan's update in the basis)
                new = {}
                for c in g:
                    X = Ztr[parts[c][j]]
                    m = X.mean(0); D = X - m
                    new[c] = (X, m, D.T @ D)
                # the shared shape over the members' exact scatters (what the bank keeps)
                for c in g:
                    X, m, G = new[c]
                    if c in cnt:
                        n1, n2 = cnt[c], float(len(X)); d = m - mu[c]
                        Ssum += G + (n1 * n2 / (n1 + n2)) * torch.outer(d, d)
                    else:
                        Ssum += G
                nsum += sum(len(new[c][0]) for c in g)
                mcount = len(set(cnt) | set(g))
                Sc = shrunk(Ssum.clone(), nsum, mcount)
                lam, V = torch.linalg.eigh(Sc)
                Un, Ln = V[:, -k:], lam[-k:]
                if U is not None:
                    R = U.T @ Un
                    Q = U.T @ Sc @ U
                    RR = R.T @ R
                    Cc = torch.diag(Ln) - RR * Ln[None, :] - Ln[:, None] * RR + R.T @ Q @ R
                    for c in blocks:
                        blocks[c] = R.T @ blocks[c] @ R + cnt[c] * Cc
                U = Un
                steps += 1
                for c in g:
                    X, m, G = new[c]
                    Gp = U.T @ G @ U
                    if c in cnt:
                        n1, n2 = cnt[c], float(len(X)); d = U.T @ (m - mu[c])
                        blocks[c] = blocks[c] + Gp + (n1 * n2 / (n1 + n2)) * torch.outer(d, d)
                        mu[c] = (n1 * mu[c] + n2 * m) / (n1 + n2); cnt[c] = n1 + n2
                        trc[c] = trc[c] + float(torch.trace(G)) + (n1 * n2 / (n1 + n2)) * float((m - mu[c]) @ (m - mu[c]))
                    else:
                        blocks[c] = Gp; cnt[c] = float(len(X)); mu[c] = m.clone(); trc[c] = float(torch.trace(G))
        # final: the eval's shared S is over all classes (as above); blocks in the last U
        Sfin = S
        lamf, Vf = torch.linalg.eigh(Sfin)
        R = U.T @ Vf[:, -k:]
        def f(a, bb, U=U):
            Ta = (blocks[a] / cnt[a]).half().double() * cnt[a]
            Tb = (blocks[bb] / cnt[bb]).half().double() * cnt[bb]
            n = float(counts[a] + counts[bb])
            alpha = 1e-4 + (1 - 1e-4) * (F / (n + F)) ** 2 * 0.002
            dof = n - 2
            tr = float(torch.trace(scat[a] + scat[bb]))
            Cu = (Ta + Tb) * ((1 - alpha) / dof) + torch.eye(k, dtype=torch.float64) * (alpha * tr / dof / F)
            P = torch.eye(F, dtype=torch.float64) - U @ U.T
            return U @ Cu @ U.T + P @ Sfin @ P
        print(f"k={k}: {steps} refits, {time.time()-t0:.0f}s", flush=True)
        evaluate(f, f"stream top-{k} block, {chunks} chunks per class, rotated at each refit, float16")
