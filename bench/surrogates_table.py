"""Markdown tables for bench/RESULTS.md from bench/surrogates.sh's results.jsonl: per case, auto's
test MAE against the best peer's and the best kelvin kind's (hindsight), the GP kinds' coverage
and auto's fit time; then the targets. Usage: surrogates_table.py RESULTS.jsonl [AUTO_LOO.jsonl]
(the second: an auto-only run, HINDSIGHT=0 PEERS=, of another auto setting, shown beside)."""
import json
import sys

rows = [json.loads(ln) for ln in open(sys.argv[1])]
alt = {}
if len(sys.argv) > 2:
    for ln in open(sys.argv[2]):
        r = json.loads(ln)
        if r["model"] == "kelvin_auto":
            alt[(r["function"], r["noise"], r["n"])] = r
cases = sorted({(r["function"], r["noise"], r["n"]) for r in rows},
               key=lambda k: (["branin", "ishigami", "otl", "borehole", "wing", "friedman1"].index(k[0]), k[1], k[2]))
print("| function (d) | noise | n | auto MAE | kept | " + ("auto (loo) MAE | kept | fit s | " if alt else "")
      + "best kelvin kind | MAE | best peer | MAE | auto/peer | auto/kind | GP cov95 | auto fit s |")
print("|---|---|---|---|---|" + ("---|---|---|" if alt else "") + "---|---|---|---|---|---|---|---|")
miss_p = miss_k = 0
miss_pa = miss_ka = 0
slow = []
for key in cases:
    rs = [r for r in rows if (r["function"], r["noise"], r["n"]) == key]
    auto = next(r for r in rs if r["model"] == "kelvin_auto")
    peers = [r for r in rs if not r["model"].startswith("kelvin") and r["mae"] is not None]
    kinds = [r for r in rs if r["model"].startswith("kelvin_") and r["model"] != "kelvin_auto" and r["mae"] is not None]
    bp = min(peers, key=lambda r: r["mae"])
    bk = min(kinds, key=lambda r: r["mae"])
    gpc = [r["coverage95"] for r in rs if r["model"] in ("kelvin_gp", "kelvin_gp_prior", "kelvin_gp_trend") and r["coverage95"] is not None]
    rp, rk = auto["mae"] / bp["mae"], auto["mae"] / bk["mae"]
    miss_p += rp > 1.001
    miss_k += rk > 1.05
    a = alt.get(key)
    extra = "- | - | - | " if alt else ""
    if a:
        rpa, rka = a["mae"] / bp["mae"], a["mae"] / min(bk["mae"], a["mae"])
        miss_pa += rpa > 1.001
        miss_ka += a["mae"] / bk["mae"] > 1.05
        extra = f"{a['mae']:.4g} | {a['note']} | {a['fit_s']:.1f} | "
        if key[2] == 1000 and a["fit_s"] > 60:
            slow.append(key)
    print(f"| {key[0]} ({auto['d']}) | {key[1]:.2f} | {key[2]} | {auto['mae']:.4g} | {auto['note']} | {extra}"
          f"{bk['model'][7:]} | {bk['mae']:.4g} | {bp['model']} | {bp['mae']:.4g} | {rp:.3f} | {rk:.3f} | "
          f"{', '.join(f'{c:.3f}' for c in gpc)} | {auto['fit_s']:.1f} |")
print()
print(f"auto (kfold): no worse than the best peer in {len(cases) - miss_p} of {len(cases)} cases; "
      f"within 5 % of the best kind in {len(cases) - miss_k} of {len(cases)}")
if alt:
    na = sum(1 for k in cases if k in alt)
    print(f"auto (loo): no worse than the best peer in {na - miss_pa} of {na} cases; "
          f"within 5 % of the best kind in {na - miss_ka} of {na}; n = 1000 over 60 s: "
          f"{', '.join(f'{k[0]}/{k[1]}' for k in slow) or 'none'}")
