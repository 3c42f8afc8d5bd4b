# Digit Scenes, semantic segmentation: 11 classes, 0 = background and k + 1
# = digit k, on 64x64 scenes of real handwritten digits (scikit-learn's 8x8
# digits, upscaled) with clutter. mmseg's BaseSegDataset reads the label
# maps as they are (no reduce_zero_label).
# Generate first (from the repository root):
#   PYTHONPATH=. python projects/digit_scenes/tools/create_digit_scenes.py
dataset_type = 'BaseSegDataset'
data_root = 'data/digit_scenes/'
metainfo = dict(
    classes=('background', '0', '1', '2', '3', '4', '5', '6', '7', '8',
             '9'),
    palette=[[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25],
             [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240],
             [240, 50, 230], [210, 245, 60], [250, 190, 212]])
backend_args = None

# No flips: a mirrored digit is not a digit.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# Scenes are already 64x64: nothing to augment or resize at test time.
test_pipeline = train_pipeline
# What the train and val datasets share; each adds its folders and pipeline.
_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.png',
    seg_map_suffix='.png',
    reduce_zero_label=False)
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        **_dataset,
        data_prefix=dict(
            img_path='images/train', seg_map_path='seg_maps/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **_dataset,
        data_prefix=dict(img_path='images/val', seg_map_path='seg_maps/val'),
        pipeline=test_pipeline))
del _dataset
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
