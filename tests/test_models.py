import torch

from riscmoe.models import Verifier


def test_verifier_learns_a_border_and_round_trips():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(400, 5, generator=g)
    target = (X[:, 0] + 0.5 * X[:, 1] > 0).float()
    model = Verifier(5, hidden=16, lr=1e-2, seed=0)
    first = model.fit_step(X, target)
    for _ in range(150):
        last = model.fit_step(X, target)
    assert last < 0.5 * first
    acc = ((model.logits(X) > 0).float() == target).float().mean()
    assert acc > 0.95
    twin = Verifier(5, hidden=16, seed=1)
    twin.load_state_dict(model.state_dict())
    torch.testing.assert_close(twin.logits(X), model.logits(X))
    assert model.n_parameters == 5 * 16 + 16 + 16 + 1 and model.macs_per_input == 5 * 16 + 16


def test_verifier_balances_rare_positives():
    g = torch.Generator().manual_seed(1)
    X = torch.cat([torch.randn(10, 3, generator=g) + 3.0, torch.randn(390, 3, generator=g)])
    target = torch.cat([torch.ones(10), torch.zeros(390)])
    model = Verifier(3, hidden=8, lr=1e-2, seed=0)
    model.fit_step(X, target, steps=100)
    # With 1 positive in 40, an unbalanced loss would learn to say "no" everywhere.
    assert torch.sigmoid(model.logits(X[:10])).mean() > 0.7


def test_fit_step_matches_autograd_and_torch_adam():
    """The hand-written gradients and Adam give what autograd and torch.optim.Adam give."""
    import copy

    from torch.nn import functional as F

    torch.manual_seed(0)
    model = Verifier(20, hidden=8, lr=1e-2, seed=3)
    X, target = torch.randn(30, 20), (torch.rand(30) > 0.7).float()
    ref = copy.deepcopy(model.net)
    for p in ref.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    pos, neg = target.sum(), len(target) - target.sum()
    weight = torch.where(target > 0.5, 0.5 / pos, 0.5 / neg) * len(target)
    for _ in range(4):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(ref(X).squeeze(1), target, weight=weight)
        loss.backward()
        opt.step()
        ours = model.fit_step(X, target)
        assert abs(ours - float(loss.detach())) < 1e-5
    for a, b in zip(ref.parameters(), model.net.parameters()):
        torch.testing.assert_close(a.detach(), b, atol=1e-6, rtol=1e-5)
