"""Golden values of torchcfm 1.0.7 (torch 2.15.0, float64) and POT 0.9.7.post1 for
tests/it/golden.rs: the four paths' mu_t, sigma_t and u_t on fixed inputs, the exact OT plan and a
Sinkhorn plan of their squared-distance cost. Run: python make_torchcfm.py > torchcfm.json"""
import json, numpy as np, torch, ot
from torchcfm.conditional_flow_matching import (ConditionalFlowMatcher, TargetConditionalFlowMatcher,
    SchrodingerBridgeConditionalFlowMatcher, VariancePreservingConditionalFlowMatcher)
torch.set_default_dtype(torch.float64)
x0 = torch.tensor([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0], [0.0, -0.5]])
x1 = torch.tensor([[2.0, 1.0], [-1.0, 0.5], [0.25, -2.0], [1.0, 1.5]])
xt = torch.tensor([[0.3, 0.7], [-0.2, 1.1], [0.9, -0.4], [1.2, 0.1]])
t = torch.tensor([0.1, 0.35, 0.6, 0.9])
out = {}
for name, m in [("icfm", ConditionalFlowMatcher(sigma=0.1)), ("target", TargetConditionalFlowMatcher(sigma=0.1)),
                ("sb", SchrodingerBridgeConditionalFlowMatcher(sigma=0.5)), ("vp", VariancePreservingConditionalFlowMatcher(sigma=0.1))]:
    out[name] = {
        "mu_t": m.compute_mu_t(x0, x1, t).flatten().tolist(),
        "sigma_t": [float(m.compute_sigma_t(ti)) for ti in t],
        "u_t": m.compute_conditional_flow(x0, x1, t, xt).flatten().tolist(),
    }
M = torch.cdist(x0, x1) ** 2
a = np.full(4, 0.25)
out["emd_plan"] = ot.emd(a, a, M.numpy()).flatten().tolist()
out["sinkhorn_plan_reg_0.5"] = ot.sinkhorn(a, a, M.numpy(), reg=0.5, numItermax=10000, stopThr=1e-12).flatten().tolist()
out["cost"] = M.flatten().tolist()
print(json.dumps(out, indent=1))
