#!/usr/bin/python3
"""Write the small hand-made LightGBM text models used by
train/import_lightgbm_test.go (LightGBM has no Debian package, so these are
written by hand in LightGBM's text model format, version v4; the expected
scores are worked out by hand in the test). lgb_binary.txt is typed in full
and not written by this script.

    /usr/bin/python3 train/testdata/import/make_lightgbm.py

lgb_zero.txt        regression on v, w: ten trees T0..T9 whose left leaf is
                    2^k (T2: a subtree, 4 or 1024), one per missing-type case:
                    T0, T1, T2 zero-as-missing default left at 0.5, 1e-35,
                    -0.5; T3, T4, T5 zero-as-missing default right at -0.5, 0,
                    0.5; T6, T7 missing type None at -0.25, 0.25; T8, T9
                    missing type NaN default left / right on w at 0
lgb_multiclass.txt  3 classes, 2 iterations; the last tree a single leaf;
                    tree 0 is missing type None with the default-left bit set
lgb_multiclass2.txt a 2-class softmax (imported as binary)
lgb_rf.txt          average_output (random forest): the mean of two trees
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def tree(i, feats, thr, dt, left, right, leaves):
    n = len(leaves)
    s = [f"Tree={i}", f"num_leaves={n}", "num_cat=0"]
    if n > 1:
        s += ["split_feature=" + " ".join(map(str, feats)),
              "split_gain=" + " ".join("1" for _ in feats),
              "threshold=" + " ".join(thr),
              "decision_type=" + " ".join(map(str, dt)),
              "left_child=" + " ".join(map(str, left)),
              "right_child=" + " ".join(map(str, right))]
    else:
        s += ["split_feature=", "split_gain=", "threshold=", "decision_type=", "left_child=", "right_child="]
    s += ["leaf_value=" + " ".join(leaves), "leaf_weight=" + " ".join("1" for _ in leaves),
          "leaf_count=" + " ".join("1" for _ in leaves), "is_linear=0", "shrinkage=1", "", ""]
    return "\n".join(s) + "\n"


def model(objective, names, infos, trees, num_class=1, extra=""):
    head = ["tree", "version=v4", f"num_class={num_class}", f"num_tree_per_iteration={num_class}",
            "label_index=0", f"max_feature_idx={len(names) - 1}", f"objective={objective}"]
    if extra:
        head.append(extra)
    head += ["feature_names=" + " ".join(names), "feature_infos=" + " ".join(infos), "", ""]
    return ("\n".join(head) + "".join(trees) + "end of trees\n\nfeature_importances:\n\n"
            "parameters:\n[boosting: gbdt]\n[learning_rate: 0.05]\n[num_leaves: 3]\nend of parameters\n\n"
            "pandas_categorical:null\n")


def write(name, text):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text)


def main():
    t = []
    stumps = [  # feature, threshold, decision_type (bit 1 default left, bits 2-3 missing type)
        (0, "0.5", 6), (0, "1.0000000000000001e-35", 6), None, (0, "-0.5", 4), (0, "0", 4), (0, "0.5", 4),
        (0, "-0.25", 0), (0, "0.25", 0), (1, "0", 10), (1, "0", 8)]
    for k, s in enumerate(stumps):
        if s is None:  # T2: zero split (default left, at -0.5) over a subtree on w
            t.append(tree(k, [0, 1], ["-0.5", "0"], [6, 8], [1, -1], [-3, -2], ["4", "1024", "0"]))
            continue
        f, thr, dt = s
        t.append(tree(k, [f], [thr], [dt], [-1], [-2], [str(float(2 ** k)), "0"]))
    write("lgb_zero.txt", model("regression", ["v", "w"], ["[-1:2]", "[-1:5]"], t))

    t = [tree(0, [0], ["-1"], [2], [-1], [-2], ["0.5", "-0.5"]),
         tree(1, [1], ["2"], [10], [-1], [-2], ["0.29999999999999999", "-0.20000000000000001"]),
         tree(2, [0], ["1"], [8], [-1], [-2], ["-0.10000000000000001", "0.40000000000000002"]),
         tree(3, [1], ["0"], [8], [-1], [-2], ["0.20000000000000001", "-0.10000000000000001"]),
         tree(4, [0], ["0.5"], [10], [-1], [-2], ["-0.29999999999999999", "0.10000000000000001"]),
         tree(5, [], [], [], [], [], ["0.050000000000000003"])]
    write("lgb_multiclass.txt", model("multiclass num_class:3", ["a", "b"], ["[-3:3]", "[-1:6]"], t, num_class=3))

    t = [tree(0, [0], ["0"], [8], [-1], [-2], ["0.20000000000000001", "-0.29999999999999999"]),
         tree(1, [0], ["1"], [8], [-1], [-2], ["-0.10000000000000001", "0.59999999999999998"])]
    write("lgb_multiclass2.txt", model("multiclass num_class:2", ["a"], ["[-3:3]"], t, num_class=2))

    t = [tree(0, [0], ["0"], [8], [-1], [-2], ["1", "3"]),
         tree(1, [0], ["1"], [8], [-1], [-2], ["2", "6"])]
    write("lgb_rf.txt", model("regression", ["a"], ["[-3:3]"], t, extra="average_output"))


if __name__ == "__main__":
    main()
