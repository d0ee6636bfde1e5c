"""What the lessons learn from and start from: datasets and pretrained networks, made offline.

The target datasets (photo patches, `data`; six shapes, `shape_task`; eight
stripe orientations, `stripe_task`), the procedural source task (`source_task`,
the one shape-drawing rule), Grad-CAM scenes with a localised object
(`scenes`), and the networks pretrained on the source task: the teacher
(`teacher`), the BatchNorm teacher (`bn_teacher`) and the ViT teacher (`vit`),
with the training loop their recipes in ``tools/`` share (`pretraining`).
Fine-tuning them lives in `freezelab.finetune`.
"""
