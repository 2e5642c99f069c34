"""Golden values for Gumbel-softmax on fixed noise, from torch.nn.functional.gumbel_softmax.

torch draws its noise as -log(Exponential(1)); seeding before a bare exponential_() draw and
again before gumbel_softmax makes both see the same E, so g = -log(E) is torch's own noise.
Prints Rust constants for tests/gumbel_golden.rs.
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
logits = torch.tensor([[1.0, -0.5, 0.25, 2.0, 0.0], [-1.0, 0.5, 3.0, -2.0, 0.1]])
weights = torch.tensor([[0.3, -1.2, 0.7, 2.0, -0.4], [1.5, 0.2, -0.9, 0.4, 1.1]])
tau = 0.7
torch.manual_seed(1234)
gumbel = -torch.empty_like(logits).exponential_().log()
for hard in (False, True):
    x = logits.clone().requires_grad_(True)
    torch.manual_seed(1234)
    y = F.gumbel_softmax(x, tau=tau, hard=hard)
    (y * weights).sum().backward()
    print(f"// hard = {hard}")
    print("y:", [round(v, 12) for v in y.flatten().tolist()])
    print("grad:", [round(v, 12) for v in x.grad.flatten().tolist()])
print("gumbel:", [round(v, 12) for v in gumbel.flatten().tolist()])
