"""Digit Scenes: determinism, geometry, splits, and the OpenMMLab loaders."""
import json
import os.path as osp
from pathlib import Path
from typing import List

import numpy as np
import pytest

from projects.digit_scenes.digit_scenes import (DIGIT_CLASSES, SceneConfig,
                                                create_digit_scenes,
                                                generate_split,
                                                load_digit_pool,
                                                scenes_to_coco,
                                                split_digit_indices, tight_box)
from projects.digit_scenes.digit_scenes.scenes import Scene, upscale_digit

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / 'projects' / 'digit_scenes'
CONFIGS = PROJECT / 'configs'
NUM_TRAIN, NUM_VAL = 8, 4


@pytest.fixture(scope='module')
def scenes() -> List[Scene]:
    return generate_split('train', 40, seed=1) + generate_split(
        'val', 20, seed=1)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('digit_scenes')
    create_digit_scenes(str(root), NUM_TRAIN, NUM_VAL, seed=0)
    return str(root)


def _files(root: Path) -> dict:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob('*')) if p.is_file()
    }


def test_same_seed_same_arrays():
    a = generate_split('val', 12, seed=7)
    b = generate_split('val', 12, seed=7)
    for sa, sb in zip(a, b):
        np.testing.assert_array_equal(sa.image, sb.image)
        np.testing.assert_array_equal(sa.seg_map, sb.seg_map)
        assert [i.bbox for i in sa.instances] == [i.bbox for i in sb.instances]
    names = [f'{i}.png' for i in range(len(a))]
    assert json.dumps(scenes_to_coco(a, names)) == json.dumps(
        scenes_to_coco(b, names))
    c = generate_split('val', 12, seed=8)
    assert any(not np.array_equal(x.image, y.image) for x, y in zip(a, c))


def test_same_seed_same_files(tmp_path):
    create_digit_scenes(str(tmp_path / 'a'), 3, 2, seed=5)
    create_digit_scenes(str(tmp_path / 'b'), 3, 2, seed=5)
    files_a, files_b = _files(tmp_path / 'a'), _files(tmp_path / 'b')
    assert 'annotations/instances_train.json' in files_a
    assert files_a == files_b


def test_scene_does_not_depend_on_split_size():
    few, many = generate_split('train', 3), generate_split('train', 6)
    for a, b in zip(few, many):
        np.testing.assert_array_equal(a.image, b.image)


def test_scene_layout(scenes):
    cfg = SceneConfig()
    for scene in scenes:
        assert scene.image.shape == (*cfg.canvas_size, 3)
        assert scene.image.dtype == np.uint8
        assert scene.seg_map.shape == cfg.canvas_size
        assert 1 <= len(scene.instances) <= cfg.num_digits[1]


def _disjoint(a, b) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_no_overlap(scenes):
    for scene in scenes:
        insts = scene.instances
        for i in range(len(insts)):
            for j in range(i + 1, len(insts)):
                assert _disjoint(insts[i].bbox, insts[j].bbox)
                assert _disjoint(insts[i].patch_box, insts[j].patch_box)
                assert not (insts[i].mask & insts[j].mask).any()


def test_boxes_and_masks_agree_with_pasted_digits(scenes):
    digits, labels = load_digit_pool()
    cfg = SceneConfig()
    for scene in scenes:
        union = np.zeros(scene.seg_map.shape, dtype=bool)
        for inst in scene.instances:
            assert inst.label == labels[inst.digit_index]
            # the box is tight around the mask, the mask inside the box
            assert inst.bbox == tight_box(inst.mask)
            x1, y1, x2, y2 = inst.bbox
            inside = np.zeros_like(inst.mask)
            inside[y1:y2, x1:x2] = True
            assert not (inst.mask & ~inside).any()
            # the mask is the thresholded digit at its pasted place
            px1, py1, px2, py2 = inst.patch_box
            patch = upscale_digit(digits[inst.digit_index], px2 - px1,
                                  inst.nearest)
            expected = np.zeros_like(inst.mask)
            expected[py1:py2, px1:px2] = patch > cfg.mask_thr
            np.testing.assert_array_equal(inst.mask, expected)
            # the label map says the same
            assert (scene.seg_map[inst.mask] == inst.label + 1).all()
            union |= inst.mask
        assert (scene.seg_map[~union] == 0).all()


def test_digit_ink_is_brighter_than_background(scenes):
    for scene in scenes:
        gray = scene.image.astype(np.float32).mean(-1)
        fg = scene.seg_map > 0
        assert gray[fg].mean() > gray[~fg].mean() + 50


def test_splits_are_disjoint(scenes):
    _, labels = load_digit_pool()
    pools = split_digit_indices(labels, 0.2, seed=1)
    train, val = set(pools['train']), set(pools['val'])
    assert not train & val
    assert len(train | val) == len(labels)
    assert 0.18 < len(val) / len(labels) < 0.22
    used_train = {i.digit_index for s in scenes[:40] for i in s.instances}
    used_val = {i.digit_index for s in scenes[40:] for i in s.instances}
    assert used_train <= train and used_val <= val


def test_written_splits_are_disjoint(data_root):
    used = {}
    for split in ('train', 'val'):
        path = osp.join(data_root, 'annotations', f'instances_{split}.json')
        with open(path) as f:
            used[split] = {a['digit_index'] for a in json.load(f)[
                'annotations']}
    assert used['train'] and used['val']
    assert not used['train'] & used['val']
    with open(osp.join(data_root, 'meta.json')) as f:
        meta = json.load(f)
    assert not set(meta['digit_indices']['train']) & set(
        meta['digit_indices']['val'])


def test_coco_json(data_root):
    with open(osp.join(data_root, 'annotations',
                       'instances_train.json')) as f:
        coco = json.load(f)
    assert len(coco['images']) == NUM_TRAIN
    assert [c['name'] for c in coco['categories']] == list(DIGIT_CLASSES)
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        assert w > 0 and h > 0 and ann['iscrowd'] == 0
        assert 0 < ann['area'] <= w * h
        assert 1 <= ann['category_id'] <= 10


def _config(name: str, data_root: str):
    from mmengine.config import Config
    cfg = Config.fromfile(str(CONFIGS / name))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
    for key in ('val_evaluator', 'test_evaluator'):
        if 'ann_file' in cfg[key]:
            cfg[key].ann_file = osp.join(data_root, 'annotations',
                                         'instances_val.json')
    return cfg


DET_CONFIGS = sorted(p.name for p in CONFIGS.glob('retinanet_*.py'))
SEG_CONFIGS = sorted(p.name for p in CONFIGS.glob('pspnet_*.py'))


def test_there_are_teachers_and_students():
    assert len(DET_CONFIGS) >= 2 and len(SEG_CONFIGS) >= 2


def _build_dataset(cfg, split: str):
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(cfg.default_scope)
    return DATASETS.build(cfg[f'{split}_dataloader'].dataset)


def test_coco_dataset_loads_and_evaluates(data_root):
    import torch
    from mmdet.evaluation import CocoMetric
    cfg = _config(DET_CONFIGS[0], data_root)
    train = _build_dataset(cfg, 'train')
    assert len(train) == NUM_TRAIN
    assert train.metainfo['classes'] == DIGIT_CLASSES
    item = train[0]
    assert item['inputs'].shape == (3, 64, 64)
    assert len(item['data_samples'].gt_instances) >= 1

    # the ground truth, scored as predictions, is perfect for CocoMetric
    val = _build_dataset(cfg, 'val')
    metric = CocoMetric(ann_file=cfg.val_evaluator.ann_file, metric='bbox')
    metric.dataset_meta = val.metainfo
    for i in range(len(val)):
        gt = val[i]['data_samples']
        boxes = gt.gt_instances.bboxes.tensor
        pred = dict(bboxes=boxes, labels=gt.gt_instances.labels,
                    scores=torch.ones(len(boxes)))
        metric.process({}, [dict(img_id=gt.img_id, ori_shape=gt.ori_shape,
                                 pred_instances=pred)])
    assert metric.evaluate(len(val))['coco/bbox_mAP'] == pytest.approx(1.0)


def test_seg_dataset_loads_and_evaluates(data_root):
    from mmseg.evaluation import IoUMetric
    cfg = _config(SEG_CONFIGS[0], data_root)
    train = _build_dataset(cfg, 'train')
    assert len(train) == NUM_TRAIN
    assert len(train.metainfo['classes']) == 11
    item = train[0]
    assert item['inputs'].shape == (3, 64, 64)
    seg = item['data_samples'].gt_sem_seg.data
    assert seg.shape == (1, 64, 64) and int(seg.max()) <= 10
    assert int(seg.max()) >= 1

    val = _build_dataset(cfg, 'val')
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = val.metainfo
    for i in range(len(val)):
        sample = val[i]['data_samples']
        metric.process({}, [dict(pred_sem_seg=dict(
            data=sample.gt_sem_seg.data), gt_sem_seg=dict(
                data=sample.gt_sem_seg.data))])
    assert metric.evaluate(len(val))['mIoU'] == pytest.approx(100.0)


@pytest.mark.parametrize('name', DET_CONFIGS + SEG_CONFIGS)
def test_config_trains_one_step(name, data_root):
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS
    cfg = _config(name, data_root)
    assert cfg.model.backbone.get('init_cfg') is None  # from scratch
    assert not cfg.model.backbone.get('norm_eval', False)
    dataset = _build_dataset(cfg, 'train')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    batch = pseudo_collate([dataset[i] for i in range(2)])
    log_vars = model.train_step(batch, optim_wrapper)
    assert torch.isfinite(log_vars['loss'])
    model.eval()
    with torch.no_grad():
        out = model.val_step(batch)
    assert len(out) == 2


def test_cli(tmp_path):
    import importlib.util
    path = PROJECT / 'tools' / 'create_digit_scenes.py'
    spec = importlib.util.spec_from_file_location('create_digit_scenes',
                                                  path)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    summary = cli.main(['--out-dir', str(tmp_path), '--num-train', '2',
                        '--num-val', '1'])
    assert summary['train_scenes'] == 2 and summary['val_scenes'] == 1
    assert (tmp_path / 'images' / 'val' / '00000.png').is_file()
    assert (tmp_path / 'seg_maps' / 'train' / '00001.png').is_file()


@pytest.mark.parametrize('kwargs, match', [
    (dict(canvas_size=(12, 12)), r'`canvas_size` \(12, 12\) cannot hold'),
    (dict(num_digits=(0, 0)), '`num_digits` must be'),
    (dict(num_digits=(3, 2)), '`num_digits` must be'),
    (dict(scale_range=(0.0, 2.0)), '`scale_range` must be'),
    (dict(max_tries=0), '`max_tries` must be >= 1'),
])
def test_impossible_scene_configs_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SceneConfig(**kwargs)


def test_the_digit_pool_is_loaded_once_and_shared_read_only():
    images, labels = load_digit_pool()
    assert load_digit_pool()[0] is images
    with pytest.raises(ValueError, match='read-only'):
        images[0, 0, 0] = 1.0


def test_import_mmakd_needs_nothing_of_the_demo():
    """The plugin's runtime imports neither the demo's project nor its
    packages (mmdet may import scikit-learn on its own, where it is
    installed)."""
    import ast
    import subprocess
    import sys
    code = ('import sys, mmakd; '
            'print(any(m.split(".")[0] == "projects" for m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         cwd=str(REPO)).stdout
    # The last line: onedl-mmdetection prints one of its own on import.
    assert out.strip().splitlines()[-1] == 'False'
    for path in (REPO / 'mmakd').rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in getattr(node, 'names', [])]
            module = getattr(node, 'module', None) or ''
            for name in names + [module]:
                assert not name.startswith(
                    ('sklearn', 'matplotlib', 'projects')), path
