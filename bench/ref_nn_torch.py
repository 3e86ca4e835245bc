#!/usr/bin/python3
"""PyTorch reference for bench_nn.c: the same models, batch shapes, loss and optimizer.
  ref_nn_torch.py mlp STEPS | rnn STEPS | cnn STEPS   ->  name samples_per_second 0 max_rss_mib
One thread (torch.set_num_threads(1)); MSE (cnn: softmax cross-entropy with one-hot targets) summed
over the batch divided by the row count, Adam(lr 1e-4); PyTorch's default initialization; two
warm-up steps. cnn: 1x28x28 -> Conv2d(1, 32, 5, padding=2) -> ReLU -> MaxPool2d(2) -> Conv2d(32, 64,
5, padding=2) -> ReLU -> MaxPool2d(2) -> flatten -> Linear(3136, 128) -> ReLU -> Linear(128, 10),
batch 64 (the model of bench_nn.c cnn), timed by the process's CPU time as bench_nn.c times it."""
import resource
import sys
import time

import torch


def main():
    kind, steps = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(1)
    torch.manual_seed(1)
    if kind == "mlp":
        net = torch.nn.Sequential(torch.nn.Linear(39, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                                  torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                  torch.nn.Linear(512, 4))
        x, y, rows = torch.randn(256, 39), torch.randn(256, 4), 256
        params = list(net.parameters())

        def loss_fn():
            return ((net(x) - y) ** 2).sum() / rows
    elif kind == "cnn":
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                  torch.nn.Conv2d(32, 64, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                  torch.nn.Flatten(), torch.nn.Linear(64 * 7 * 7, 128), torch.nn.ReLU(),
                                  torch.nn.Linear(128, 10))
        x, rows = torch.randn(64, 1, 28, 28), 64
        y = torch.arange(64) % 10
        params = list(net.parameters())

        def loss_fn():
            return torch.nn.functional.cross_entropy(net(x), y, reduction="sum") / rows
    else:
        rnn = torch.nn.RNN(39, 128, num_layers=2, nonlinearity="tanh")
        head = torch.nn.Linear(128, 4)
        x, y, rows = torch.randn(100, 32, 39), torch.randn(100, 32, 4), 3200
        params = list(rnn.parameters()) + list(head.parameters())

        def loss_fn():
            h, _ = rnn(x)
            return ((head(h) - y) ** 2).sum() / rows
    opt = torch.optim.Adam(params, lr=1e-4)
    clock = time.process_time if kind == "cnn" else time.perf_counter
    for it in range(-2, steps):
        if it == 0:
            t0 = clock()
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    dt = clock() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"{kind} {steps * rows / dt:.1f} 0 {rss:.1f}")


if __name__ == "__main__":
    main()
