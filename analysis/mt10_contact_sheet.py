#!/usr/bin/python3
"""mt10_contact_sheet.py - one image of the MT-10 experts at work (docs/multitask.md).

Runs `fleet render` for every task of a multitask config (the expert, one scene seed) and tiles
three frames per task (the start, the middle, the last frame: the hold after success) into one PNG,
a row per task, labelled with the task's name and the render's outcome line.

    analysis/mt10_contact_sheet.py --config configs/mt10.yaml --out docs/img/mt10_experts.png
"""
import argparse
import os
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument('--config', default='configs/mt10.yaml', help='a multitask config (default %(default)s)')
    ap.add_argument('--out', default='docs/img/mt10_experts.png', help='the PNG to write (default %(default)s)')
    ap.add_argument('--fleet', default=os.environ.get('FLEET', 'build/fleet'), help='the fleet binary')
    ap.add_argument('--seed', type=int, default=1, help='scene seed (default %(default)s)')
    ap.add_argument('--tasks', type=int, default=10, help='tasks to show: 0 .. N-1 (default %(default)s)')
    ap.add_argument('--size', default='256x192', help='frame size WxH (default %(default)s)')
    a = ap.parse_args()
    try:
        w, h = (int(v) for v in a.size.split('x'))
    except ValueError:
        sys.exit('mt10_contact_sheet.py: --size %s: expected WxH, e.g. 256x192' % a.size)
    label_h = 16
    sheet = Image.new('RGB', (3 * w, a.tasks * (h + label_h)), 'white')
    draw = ImageDraw.Draw(sheet)
    with tempfile.TemporaryDirectory() as tmp:
        for task in range(a.tasks):
            out = os.path.join(tmp, 't%d' % task)
            cmd = [a.fleet, 'render', a.config, '--task', str(task), '--seed', str(a.seed), '--out', out,
                   '--size', a.size]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit('mt10_contact_sheet.py: %s failed (exit %d): %s' % (' '.join(cmd), p.returncode,
                                                                            p.stderr.strip()))
            frames = sorted(f for f in os.listdir(out) if f.endswith('.png'))
            picks = [frames[0], frames[len(frames) // 2], frames[-1]]
            y = task * (h + label_h)
            draw.text((4, y + 2), p.stdout.strip().split(': ')[0] + ': ' + p.stdout.strip().split(', ', 3)[-1],
                      fill='black')
            for k, f in enumerate(picks):
                sheet.paste(Image.open(os.path.join(out, f)).convert('RGB'), (k * w, y + label_h))
            print('task %d: %s' % (task, p.stdout.strip()))
    tmp_out = a.out + '.tmp'
    sheet.save(tmp_out, format='PNG', optimize=True)
    os.replace(tmp_out, a.out)
    print('wrote %s' % a.out)


if __name__ == '__main__':
    main()
